"""Idempotency-Key records of the job store: the first request with a key owns it, a replay
gets the first request's job (worker.store.JobStore inherits these)."""

from __future__ import annotations

import json

import redis

IDEM_PREFIX = "optserve:idem:"


class IdempotencyKeys:
    r: redis.Redis
    idempotency_ttl: int

    @staticmethod
    def _idem(owner: str, key: str) -> str:
        return f"{IDEM_PREFIX}{owner}:{key}"

    def claim_idempotency(
        self, owner: str, key: str, fingerprint: str, job_id: str
    ) -> tuple[str, str | None]:
        """('new', job_id) when this request owns the key; else ('replay' | 'in_progress' |
        'mismatch', the first request's job id)."""
        record = json.dumps({"fingerprint": fingerprint, "job": job_id, "state": "pending"})
        if self.r.set(self._idem(owner, key), record, nx=True, ex=self.idempotency_ttl):
            return "new", job_id
        raw = self.r.get(self._idem(owner, key))
        if raw is None:  # expired between the two calls: try once more
            return self.claim_idempotency(owner, key, fingerprint, job_id)
        first = json.loads(raw)
        if first["fingerprint"] != fingerprint:
            return "mismatch", first["job"]
        return ("in_progress" if first["state"] == "pending" else "replay"), first["job"]

    def complete_idempotency(self, owner: str, key: str) -> None:
        raw = self.r.get(self._idem(owner, key))
        if raw is not None:
            record = {**json.loads(raw), "state": "done"}
            self.r.set(self._idem(owner, key), json.dumps(record), xx=True, keepttl=True)

    def release_idempotency(self, owner: str, key: str) -> None:
        self.r.delete(self._idem(owner, key))
