from __future__ import annotations

import jinja2
import pytest

from incident.resources import resource_dir, template_environment


def test_templates_render_escaped_and_refuse_undefined_names() -> None:
    page = template_environment().get_template("base.html.j2")
    html = page.render(title="<script>x</script>", tool_version="0.1.0",
                       generated_at="2026-01-01T00:00:00Z")
    assert "<title>&lt;script&gt;x&lt;/script&gt;</title>" in html
    assert "<script>x" not in html
    with pytest.raises(jinja2.UndefinedError):
        page.render(title="t", tool_version="0.1.0")  # generated_at missing


def test_resource_kinds() -> None:
    assert (resource_dir("playbooks") / "README.md").exists()
    with pytest.raises(ValueError, match="no resource kind"):
        resource_dir("plugins")
