"""The Merkle Tree Hash of RFC 9162 (Certificate Transparency v2), section 2.1.1, with
SHA-256, and its inclusion proofs (2.1.3.1, 2.1.3.2): one root stands for a whole list, and
a proof of a few hashes shows that one item is in it.

    MTH({})        = SHA-256()                       the empty list
    MTH({d0})      = SHA-256(0x00 || d0)             a leaf
    MTH(D[0:n])    = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))
                     k: the largest power of two smaller than n

Built bottom-up: pairing each level's nodes left to right and carrying an odd last node up
unchanged gives that same tree, in linear time and without recursion.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root(leaves: Sequence[bytes]) -> bytes:
    """The Merkle Tree Hash of the leaves (their data, not their hashes)."""
    return root_of_hashes([leaf_hash(d) for d in leaves])


def root_of_hashes(hashes: Sequence[bytes]) -> bytes:
    """The Merkle Tree Hash of leaves already hashed with `leaf_hash`."""
    if not hashes:
        return EMPTY_ROOT
    level = list(hashes)
    while len(level) > 1:
        level = _up(level)
    return level[0]


def _up(level: list[bytes]) -> list[bytes]:
    up = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        up.append(level[-1])
    return up


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, leaves) of RFC 9162 2.1.3.1: the sibling hashes from the leaf up."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} of a tree of {len(leaves)}")
    level = [leaf_hash(d) for d in leaves]
    proof: list[bytes] = []
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):  # else the last node of an odd level: carried up as is
            proof.append(level[sibling])
        level = _up(level)
        index //= 2
    return proof


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes],
                     root: bytes) -> bool:
    """Whether `leaf` (its data) is leaf `index` of the tree of `size` leaves whose Merkle
    Tree Hash is `root`, by the algorithm of RFC 9162 2.1.3.2."""
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = leaf_hash(leaf)
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root
