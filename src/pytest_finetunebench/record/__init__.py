"""Recording: record a real run's HTTP traffic once as cassettes, replay the whole benchmark from it forever.

One cassette per tuned model (``<dir>/<provider>/<model>/<key>.json``, gzip-compressed under the
same name when large; ``<key>`` is :meth:`TuneRequest.key`, so the model, the training pairs and
the settings pick it)
holds the fine-tuning job's lifecycle (upload, create, every status poll, checkpoints) and every
answer. It stays open for the whole session: the tuning call and each later answer batch of the
same model go into it, while other models' calls interleave with their own cassettes. It is
saved at session end, atomically, under a lock (one writer, also under pytest-xdist).

Record modes (``--ftb-record-mode``, pytest-recording's meaning):

* ``none`` (the default): replay only. A model without a cassette fails with a one-line error
  that says how to record; a request the cassette lacks fails naming it and the cassette.
* ``once``: replay a cassette that exists; record one that does not (keys and network needed).
* ``new_episodes``: replay what matches, send the rest to the API and append it.
* ``all``: send everything to the API and replace the cassette with what came back.
* ``off``: no cassettes at all (a live run; nothing is written).

Only HTTP providers are affected (decided by the provider name the recording seam gets): the
local model and the published-answers provider never touch a cassette.

Matching is indexed: a request's fingerprint is (method, origin, path, query without secrets,
canonical body hash): JSON bodies compare with key order free, multipart uploads without their
random boundary. Each fingerprint holds a queue of responses replayed in recorded order, so a
job's polls replay as they happened. Replay skips the providers' and the SDK's sleeps and never
reaches the network.

Credential traffic (OAuth/STS token exchanges, IAM credentials, the GCE metadata server, any
form or JSON body carrying ``grant_type``, ``refresh_token``, ``client_secret``...) is never
written: it is sent live while recording, and answered with a placeholder token while replaying.

While a model's cassette replays, :meth:`Recorder.replay_store` (``RunContext.replaying`` and
``RunContext.ledger_store`` for providers) hands providers a throwaway job store for their
ledger, so a replay never writes the recording's job into the user's live ledger.

The HTTP interception itself is vcrpy's (>= 8.2, the first to patch httpx2, which openai>=3
talks through); the cassette object, its index, format and persistence are ours.

What this package owns, one job per module: :mod:`.scrub` (secrets never written), :mod:`.match`
(fingerprints), :mod:`.cassette` (the cassette, its format and persistence), :mod:`.vcr` (the
vcrpy adapter and skipped sleeps) and :mod:`.plugin` (the session's :class:`Recorder`).
"""

from __future__ import annotations

from .cassette import FORMAT, Cassette, CassetteError, CassetteMiss, exists, read
from .match import canonical_body, describe, fingerprint
from .plugin import DEFAULT_MODE, MODES, Recorder, model_dir
from .scrub import REPLAY_TOKEN, SCRUBBED, env_secrets, is_auth, scrub_uri
from .vcr import require_vcrpy, skip_sleeps, use

__all__ = [
    "DEFAULT_MODE",
    "FORMAT",
    "MODES",
    "REPLAY_TOKEN",
    "SCRUBBED",
    "Cassette",
    "CassetteError",
    "CassetteMiss",
    "Recorder",
    "canonical_body",
    "describe",
    "env_secrets",
    "exists",
    "fingerprint",
    "is_auth",
    "model_dir",
    "read",
    "require_vcrpy",
    "scrub_uri",
    "skip_sleeps",
    "use",
]
