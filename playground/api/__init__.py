"""The playground as an OpenAI-compatible model server, with every request's exact prompt on record.

:mod:`.schema` (request bodies -> ``ChatRequest``), :mod:`.answers` (replies -> OpenAI JSON and stream chunks),
:mod:`.service` (models, token, admission, running a request through ``Engine.prepare`` and ``Engine.reply``),
:mod:`.log` (the request log the Requests tab shows), :mod:`.routes` (the HTTP routes), :mod:`.server` (``serve
--api-only``). This file imports nothing, so the CLI can load the package's parts on demand.
"""
