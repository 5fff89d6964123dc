"""The run store: where a run's result goes, and who may write it.

Every layer above writes to or reads from it: `experiment` and the Hydra sweeper, the reports and the scripts.

- `records`: a run's JSON record, its path and id, `find_completed`, atomic writes.
- `lock`: the one-owner lock beside a record (`RunLock`).
- `rescue`: the runs directory checked before any work; a record the disk refused written elsewhere.
- `keep`: finished paper-budget records kept in the repository (`python -m mixnam.runs.keep`).
- `lookup`: which record answers which job of an experiment sweep (`Store`), and reading a record's fields.
"""
