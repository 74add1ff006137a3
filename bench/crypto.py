"""Benchmark of field encryption: Vault transit batches against envelope encryption.

Issue 3 ("encrypt in batches or by envelope encryption; measure both and keep the faster").
In one run, against one OpenBao (the embedded dev server started for the run under a
temporary state folder, or the Vault named by VAULT_ADDR + VAULT_TOKEN), with the intake
service's token, this measures the median of `--repeat` runs of:

1. encrypting 1,000 values in one `encrypt` call: transit in batches of 499 (what a default
   Vault listener accepts), transit in one batch of 1,000 (the embedded server's raised
   listener), and envelope (one data key per call, AES-256-GCM locally);
2. decrypting those 1,000 values: transit, and envelope (one data-key unwrap);
3. decrypting 1,000 envelope values that were encrypted one per call (1,000 distinct data
   keys, the envelope's worst case, as when a list shows separately submitted applications);
4. one `encrypt` / `decrypt` call per value (a single submission), per call;
5. blind indexes of 1,000 values (transit HMAC, the same in both modes).

Times are milliseconds; ratios are transit / envelope (above 1 means envelope is faster).
The values are synthetic.

    .venv/bin/python bench/crypto.py [--values 1000] [--repeat 15] [--single 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import hvac

from subsidy_platform.config import Settings
from subsidy_platform.crypto import DataClass, FieldCipher
from subsidy_platform.embedded import ensure_infrastructure, stop_infrastructure
from subsidy_platform.vault import provision_vault

PROGRAM = "bench-2025"


def _median_ms(action: Callable[[], object], repeat: int) -> float:
    action()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def run(vault_addr: str, admin_token: str, count: int, repeat: int, single: int) -> None:
    admin = hvac.Client(url=vault_addr, token=admin_token)
    tokens = provision_vault(admin, [PROGRAM])
    client = hvac.Client(url=vault_addr, token=tokens["intake"])
    transit = FieldCipher(client, PROGRAM, mode="transit")
    transit_one_batch = FieldCipher(client, PROGRAM, mode="transit", batch_size=count)
    envelope = FieldCipher(client, PROGRAM, mode="envelope")
    values: list[str | None] = [
        f"シンジュク タロウ {n:06d} 090-1234-{n % 10000:04d}" for n in range(count)
    ]
    contact = DataClass.CONTACT

    transit_ct = transit.encrypt(contact, values)
    envelope_ct = envelope.encrypt(contact, values)
    envelope_singles = [envelope.encrypt(contact, [v])[0] for v in values]
    assert transit.decrypt(contact, envelope_ct) == values
    assert envelope.decrypt(contact, transit_ct) == values
    assert envelope.decrypt(contact, envelope_singles) == values

    rows: list[tuple[str, float, float]] = []

    def compare(
        label: str, of_transit: Callable[[], object], of_envelope: Callable[[], object]
    ) -> None:
        rows.append((label, _median_ms(of_transit, repeat), _median_ms(of_envelope, repeat)))

    compare(
        f"encrypt {count} (transit batches of 499)",
        lambda: transit.encrypt(contact, values),
        lambda: envelope.encrypt(contact, values),
    )
    compare(
        f"encrypt {count} (transit one batch)",
        lambda: transit_one_batch.encrypt(contact, values),
        lambda: envelope.encrypt(contact, values),
    )
    compare(
        f"decrypt {count} (from one encrypt call)",
        lambda: transit.decrypt(contact, transit_ct),
        lambda: envelope.decrypt(contact, envelope_ct),
    )
    compare(
        f"decrypt {count} (each encrypted alone)",
        lambda: transit.decrypt(contact, transit_ct),
        lambda: envelope.decrypt(contact, envelope_singles),
    )
    sample = values[:single]
    single_rows = [
        (
            "encrypt 1 value, per call",
            _per_call_ms(lambda v: transit.encrypt(contact, [v]), sample),
            _per_call_ms(lambda v: envelope.encrypt(contact, [v]), sample),
        ),
        (
            "decrypt 1 value, per call",
            _per_call_ms(lambda v: transit.decrypt(contact, [v]), transit_ct[:single]),
            _per_call_ms(lambda v: envelope.decrypt(contact, [v]), envelope_ct[:single]),
        ),
    ]
    index_ms = _median_ms(lambda: envelope.blind_index("phone", [v or "" for v in values]), repeat)

    print(
        f"Vault {vault_addr}; {count} values; median of {repeat} runs (per-call: mean of {single})"
    )
    print(f"{'measurement':44} {'transit ms':>11} {'envelope ms':>12} {'transit/envelope':>17}")
    for label, of_transit, of_envelope in rows + single_rows:
        print(f"{label:44} {of_transit:11.2f} {of_envelope:12.2f} {of_transit / of_envelope:17.2f}")
    print(f"{'blind index ' + str(count) + ' (transit hmac)':44} {index_ms:11.2f}")
    per_value_transit = rows[0][1] / count * 1000
    per_value_envelope = rows[0][2] / count * 1000
    print(
        f"encrypt per value within a batch: transit {per_value_transit:.1f} µs, "
        f"envelope {per_value_envelope:.1f} µs"
    )


def _per_call_ms(action: Callable[[str | None], object], values: list[str | None]) -> float:
    action(values[0])
    started = time.perf_counter()
    for value in values:
        action(value)
    return (time.perf_counter() - started) * 1000 / len(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--single", type=int, default=200)
    args = parser.parse_args()
    settings = Settings.from_env()
    if settings.vault_addr and settings.vault_token:
        run(settings.vault_addr, settings.vault_token, args.values, args.repeat, args.single)
        return
    with tempfile.TemporaryDirectory(prefix="bench-crypto-") as folder:
        # Only OpenBao is needed; a throwaway state folder keeps the run's server apart.
        local = Settings(Path(folder), "postgresql+psycopg:///unused", None, None, None)
        started = time.perf_counter()
        infrastructure = ensure_infrastructure(local)
        print(f"embedded OpenBao started in {(time.perf_counter() - started) * 1000:.0f} ms")
        try:
            run(
                infrastructure.vault_addr,
                infrastructure.vault_admin_token,
                args.values,
                args.repeat,
                args.single,
            )
        finally:
            stop_infrastructure(local)


if __name__ == "__main__":
    main()
