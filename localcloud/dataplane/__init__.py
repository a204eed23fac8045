"""The data plane: the processes that really run. Training jobs (`training`, driving
`training.executor`), endpoints (`endpoints`) and their serving processes (`serving`, each a
`python -m inference.server`). It knows nothing of moto's responses, only of its records."""
