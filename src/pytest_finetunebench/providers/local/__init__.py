"""The local provider: fine-tune a causal LM on this machine (or across machines), once per training set.

:mod:`.provider` is the provider (model resolution, the store layout, answering); :mod:`.train` the
training loop and :mod:`.launch` the job that runs it (:mod:`.dist`: several processes under
torchrun; :mod:`.rule`: NCCL's rule checked on a CPU); :mod:`.models` the answer models held in
memory and :mod:`.score` likelihood scoring; :mod:`.store` where models live and :mod:`.smollm2` where
the embedded one comes from; :mod:`.device`, :mod:`.cpu`, :mod:`.precision` and :mod:`.compile` how
fast and in what precision it trains.
"""
