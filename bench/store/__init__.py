"""Results files: the pyperf suite a session writes and every reader reads back.

`schema` names what is stored and how a cell maps to metadata and back; `writer` records runs
(atomically, after each); `reader` turns a file back into cells and points. Neither end
imports measuring code: a report can be made on a machine that never measured.
"""
