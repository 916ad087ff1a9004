"""Compiled kernel of the grammar mask: one lexeme's walk down the vocabulary trie.

Private ``@njit`` function on plain arrays; ``_engine.GrammarEngine`` validates and calls it.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _walk_lexeme(
    node_byte, node_depth, node_end, tok_start, tok_end, token_order, max_depth,
    transitions, accepting, roots, pre_states, out_words, ev_node, ev_state,
):  # pragma: no cover - compiled
    """Walk the subtrees at ``roots``, each entered from lexer state ``pre_states[r]``.

    Tokens whose bytes all keep the lexer alive get their bit in ``out_words``. Where a byte
    kills the lexer (``-1``, not ``-2``: blocked) right after an accepting state, the lexeme ends
    there: the node is recorded
    as an event ``(ev_node, ev_state)`` for the parser to continue from. Returns the event count.
    """
    states = np.empty(max_depth + 1, np.int32)
    n_ev = 0
    for r in range(roots.shape[0]):
        root = roots[r]
        if root == 0:
            states[0] = pre_states[r]
            i = 1
        else:
            states[node_depth[root] - 1] = pre_states[r]
            i = root
        end = node_end[root]
        while i < end:
            d = node_depth[i]
            p = states[d - 1]
            s = transitions[p, node_byte[i]]
            if s < 0:
                if s == -1 and accepting[p]:  # -2: only a shadow terminal goes on, nothing to end
                    ev_node[n_ev] = i
                    ev_state[n_ev] = p
                    n_ev += 1
                i = node_end[i]
                continue
            states[d] = s
            for k in range(tok_start[i], tok_end[i]):
                t = token_order[k]
                out_words[t >> 5] |= np.uint32(1) << np.uint32(t & 31)
            i += 1
    return n_ev
