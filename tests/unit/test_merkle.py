"""RFC 9162 Merkle Tree Hash and inclusion proofs, against the Certificate Transparency test
vectors (the same in google/certificate-transparency-go's merkletree tests and in
transparency-dev/merkle's testonly/constants.go and proof/verify_test.go)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incident.report import merkle

LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f")]

# Root of the tree of the first n leaves, n = 0..8.
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]

# The leaf hashes (level 0 of testonly/constants.go's NodeHashes).
LEAF_HASHES = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
]

# (leaf index from 0, tree size, proof): verify_test.go's inclusionProofs, whose indexes
# count from 1.
PROOFS = [
    (0, 1, []),
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]


def reference_root(leaves: list[bytes]) -> bytes:
    """RFC 9162 2.1.1 word for word (recursive, split at the largest power of two below
    n): a second implementation for the property tests."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + reference_root(leaves[:k])
                          + reference_root(leaves[k:])).digest()


def test_leaf_hashes_match_the_vectors() -> None:
    assert [merkle.leaf_hash(d).hex() for d in LEAVES] == LEAF_HASHES


@pytest.mark.parametrize("n", range(len(ROOTS)))
def test_roots_match_the_vectors(n: int) -> None:
    assert merkle.root(LEAVES[:n]).hex() == ROOTS[n]


@pytest.mark.parametrize("index, size, proof", PROOFS)
def test_inclusion_proofs_match_the_vectors(index: int, size: int, proof: list[str]) -> None:
    got = merkle.inclusion_proof(LEAVES[:size], index)
    assert [p.hex() for p in got] == proof
    assert merkle.verify_inclusion(LEAVES[index], index, size, got, bytes.fromhex(ROOTS[size]))


@pytest.mark.parametrize("index, size, proof", [p for p in PROOFS if p[2]])
def test_corrupted_proofs_fail(index: int, size: int, proof: list[str]) -> None:
    """verify_test.go's corruptInclusionProof probes."""
    path = [bytes.fromhex(p) for p in proof]
    root = bytes.fromhex(ROOTS[size])
    leaf = LEAVES[index]
    some = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
    probes = [
        (leaf, index - 1, size, path, root), (leaf, index + 1, size, path, root),
        (leaf, index ^ 2, size, path, root), (leaf, index, size * 2, path, root),
        (leaf, index, size // 2, path, root), (b"WrongLeaf", index, size, path, root),
        (leaf, index, size, path, merkle.EMPTY_ROOT), (leaf, index, size, path, some),
        (leaf, index, size, [*path, b""], root), (leaf, index, size, [*path, root], root),
        (leaf, index, size, [b"", *path], root), (leaf, index, size, [root, *path], root),
        (leaf, index, size, path[:-1], root),
    ]
    for i in range(len(path)):
        flipped = list(path)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        probes.append((leaf, index, size, flipped, root))
    if len(path) > 1:
        probes.append((leaf, index, size, [path[0], some, *path[1:]], root))
    for probe in probes:
        assert not merkle.verify_inclusion(*probe), probe


def test_a_proof_out_of_range_is_refused() -> None:
    with pytest.raises(IndexError):
        merkle.inclusion_proof(LEAVES, 8)
    assert not merkle.verify_inclusion(b"", 0, 0, [], merkle.EMPTY_ROOT)


def test_a_large_tree() -> None:
    leaves = [i.to_bytes(4, "big") for i in range(100_000)]
    root = merkle.root(leaves)
    assert root == reference_root(leaves)
    proof = merkle.inclusion_proof(leaves, 65_537)
    assert len(proof) == 17
    assert merkle.verify_inclusion(leaves[65_537], 65_537, len(leaves), proof, root)


trees = st.lists(st.binary(max_size=8), min_size=1, max_size=70)


@given(trees)
def test_root_is_rfc_9162s(leaves: list[bytes]) -> None:
    assert merkle.root(leaves) == reference_root(leaves)


@given(st.lists(st.binary(max_size=8), min_size=1, max_size=70, unique=True), st.data())
def test_every_proof_verifies_and_a_changed_leaf_does_not(leaves: list[bytes],
                                                         data: st.DataObject) -> None:
    root = merkle.root(leaves)
    for i, leaf in enumerate(leaves):
        assert merkle.verify_inclusion(leaf, i, len(leaves), merkle.inclusion_proof(leaves, i),
                                       root)
    i = data.draw(st.integers(0, len(leaves) - 1))
    other = data.draw(st.binary(max_size=8).filter(lambda b: b != leaves[i]))
    proof = merkle.inclusion_proof(leaves, i)
    assert not merkle.verify_inclusion(other, i, len(leaves), proof, root)
    assert merkle.root([*leaves[:i], other, *leaves[i + 1:]]) != root
    for j in range(len(leaves)):  # the right leaf and proof at another place
        assert merkle.verify_inclusion(leaves[i], j, len(leaves), proof, root) == (i == j)
