"""`incident dumps`: the leak dumps ingested so far."""

from __future__ import annotations

import typer
from rich.table import Table
from rich.text import Text

from incident.cli.output import emit_json, emit_json_list, err_console, open_store, say
from incident.ingest import dumps as lib

app = typer.Typer(help="The leak dumps ingested so far.", no_args_is_help=True)


@app.command("list")
def list_(ctx: typer.Context, json_out: bool = typer.Option(
        False, "--json", help="Machine output (JSON) on stdout.")) -> None:
    """List dumps: id, name, source, credentials, rejected records, time ingested."""
    with open_store(ctx) as store:
        dumps = list(lib.list_dumps(store))
    if json_out:
        emit_json_list(dumps)
        return
    table = Table("id", "name", "credentials", "rejected", "formats", "ingested (UTC)",
                  "sha256", box=None)
    for d in dumps:
        cells = (str(d["id"]), d["name"], f"{d['credentials']:,}", f"{d['rejected']:,}",
                 ",".join(d["formats"]), d["ingested_at"][:19].replace("T", " "),
                 d["sha256"][:16])
        table.add_row(*(Text(c) for c in cells))
    console = err_console()
    if dumps:
        console.print(table)
    console.print(f"{len(dumps)} dump{'s' if len(dumps) != 1 else ''}")


@app.command("show")
def show(ctx: typer.Context, dump_id: int = typer.Argument(..., metavar="ID"),
         json_out: bool = typer.Option(False, "--json", help="Machine output (JSON).")) -> None:
    """Show one dump: source, hash, counts per exchange, members, rejected records."""
    with open_store(ctx) as store:
        d = lib.show_dump(store, dump_id)
    if json_out:
        emit_json(d)
        return
    for label, value in (("dump", f"{d['id']} '{d['name']}'"), ("source", d["source"]),
                         ("kind", d["kind"]), ("sha256", d["sha256"]),
                         ("size", f"{d['size']:,} bytes"), ("ingested", d["ingested_at"]),
                         ("formats", ", ".join(d["formats"])),
                         ("credentials", f"{d['credentials']:,} ({d['new']:,} new, "
                          f"{d['credentials'] - d['new']:,} seen in earlier dumps)")):
        say(f"{label:>12}: {value}")
    for ex, n in sorted(d["per_exchange"].items(), key=lambda i: (-i[1], i[0])):
        say(f"{'':>14}{ex}: {n:,}")
    say(f"{'members':>12}:")
    for m in d["members"]:
        say(f"{'':>14}{m['name']} ({m['format']}): {m['credentials']:,}")
    say(f"{'rejected':>12}: {d['rejected']:,}")
    for r in d["rejects"]:
        say(f"{'':>14}{r}")


@app.command("remove")
def remove(ctx: typer.Context, dump_id: int = typer.Argument(..., metavar="ID")) -> None:
    """Remove a dump and every credential sighting it added."""
    with open_store(ctx) as store:
        d = lib.remove_dump(store, dump_id)
    say(f"removed dump {dump_id} '{d['name']}' ({d['credentials']:,} credentials)")
