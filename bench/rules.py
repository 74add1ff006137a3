"""Benchmark of the rules library: evaluation throughput and duplicate detection beside splink.

Issue 2, section 6. In one run on one machine this measures:

1. evaluation throughput: applications per second through `engine.evaluate` on pre-parsed
   applications (one core), and through `parse_application` + `evaluate`, on the
   `shinjuku-2025` program; a cProfile of `evaluate` lists the hot spots;
2. duplicate detection (`dedupe.find_duplicates` with the ward's cached address normaliser)
   at each size: time, tracemalloc peak and peak-RSS growth, the growth ratio
   t(1M) / t(100k) (about 10 means linear), and pairwise precision / recall against
   `synth.truth_pairs`;
3. the same data through splink (probabilistic linkage on DuckDB): a flat table per
   application (normalised name kana, birth date, phone, postal code, dwelling key, bank
   account key, LoGo answer id), blocking on those keys, u by random sampling, m by EM,
   predictions at match probability >= 0.9, clustered; time, peak RSS and precision / recall.

Aims: evaluation >= 200,000 applications/s on one core (issue 2); 1M applications
de-duplicated in at most 30 s on one core and 1.5 GB with precision >= 0.995 and recall
>= 0.99, 100k in under 3 s (issue 21). Detection is called as a batch caller calls it:
the loaded applications are moved out of the cyclic garbage collector's sight first
(`gc.freeze()`), and the time is split into its steps (address normalisation, the keys of
every application including it, indexing them, grouping) in a second, separately timed
pass.

Each measurement runs in a fresh subprocess (this script with ``--child``) so that caches
are cold and memory peaks are clean: the kernel's peak-RSS mark (VmHWM) is reset through
/proc/self/clear_refs right before the measured call, and the growth is reported against
the RSS just before it. Generating and parsing the synthetic data is never timed as
detection. A pair is predicted when two application ids are in one group (or one splink
cluster); truth is `truth_pairs` over the records that parse (the planted malformed ones
are left out, as the CLI would reject them).

    .venv/bin/python bench/rules.py [--sizes 10000,100000,1000000] [--splink-max 1000000]
                                    [--quick] [--seed 2025] [--eval-size 100000]

`--quick` means sizes 10k,100k and splink up to 100k. Results are printed as a table and
written as JSON to bench/out/rules-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import logging
import os
import platform
import pstats
import re
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from subsidy_rules.application import Application, parse_application
from subsidy_rules.dedupe import (
    DuplicateIndex,
    corroborating_facts,
    duplicate_keys,
    find_duplicates,
)
from subsidy_rules.engine import evaluate, ward_of
from subsidy_rules.normalize.kana import matching_kana
from subsidy_rules.normalize.phone import normalize_phone
from subsidy_rules.normalize.postal import normalize_postal_code
from subsidy_rules.program import Program, get_program
from subsidy_rules.residence import WardArea
from subsidy_rules.synth import MALFORMED, SyntheticApplication, generate, truth_pairs

PROGRAM_ID = "shinjuku-2025"
SPLINK_THRESHOLD = 0.9
AIM_EVALUATIONS_PER_S = 200_000
AIM_DEDUPE_1M_S = 30.0
AIM_DEDUPE_100K_S = 3.0
AIM_DEDUPE_1M_MB = 1500.0
AIM_PRECISION = 0.995
AIM_RECALL = 0.99
OUT_DIR = Path(__file__).resolve().parent / "out"
_MALFORMED = frozenset(MALFORMED)

Json = dict[str, Any]


# ----------------------------------------------------------------------------- process facts


def _status_kib(name: str) -> int:
    """A field of /proc/self/status in KiB (VmRSS, VmHWM); 0 where /proc is missing."""
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return 0
    match = re.search(rf"^{name}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else 0


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS (Linux >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass
class Memory:
    """Peak-RSS growth of one measured call (the call's own memory, input excluded)."""

    rss_before_mb: float
    peak_rss_mb: float
    peak_growth_mb: float
    peak_reset: bool

    @classmethod
    def start(cls) -> Callable[[], Memory]:
        gc.collect()
        reset = _reset_peak_rss()
        before = _status_kib("VmRSS")

        def stop() -> Memory:
            peak = _status_kib("VmHWM")
            return cls(before / 1024, peak / 1024, max(peak - before, 0) / 1024, reset)

        return stop


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _version(module: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return None


def machine() -> Json:
    """What the numbers were measured on."""
    return {
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "memory_total_mb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20),
        "splink": _version("splink"),
        "duckdb": _version("duckdb"),
        "git": _git_state(),
    }


def _git_state() -> str | None:
    """The commit measured, with `+dirty` when the working tree has changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return None
    return f"{commit}+dirty" if dirty else commit or None


# ----------------------------------------------------------------------------- data


@dataclass
class Dataset:
    """Parsed synthetic applications with their truth (the raw records are dropped)."""

    applications: list[Application]
    truth: set[frozenset[str]]
    truth_link: dict[frozenset[str], str]
    generated: int
    malformed: int
    load_s: float


def _slim(synthetic: SyntheticApplication) -> SyntheticApplication:
    """Only what `truth_pairs` reads, so that 1M raw records need not stay in memory."""
    record = synthetic.record
    return SyntheticApplication(
        record={
            "application_id": record.get("application_id"),
            "bank_account": record.get("bank_account"),
            "logo_answer_id": record.get("logo_answer_id"),
        },
        household_id=synthetic.household_id,
        person_id=synthetic.person_id,
        defects=(),
        planted_duplicate_of=None,
    )


def load(size: int, seed: int, *, keep_records: bool = False) -> tuple[Dataset, list[Json]]:
    """Generate and parse `size` records (untimed as detection); optionally keep the records."""
    start = time.perf_counter()
    applications: list[Application] = []
    slim: list[SyntheticApplication] = []
    records: list[Json] = []
    malformed = 0
    for synthetic in generate(size, seed):
        if _MALFORMED.intersection(synthetic.defects):
            malformed += 1
            continue
        applications.append(parse_application(synthetic.record))
        slim.append(_slim(synthetic))
        if keep_records:
            records.append(synthetic.record)
    truth = truth_pairs(slim)
    link = _truth_links(slim, truth)
    del slim
    gc.collect()
    dataset = Dataset(applications, truth, link, size, malformed, time.perf_counter() - start)
    return dataset, records


LINKS = ("same person", "household member", "shared bank account", "same LoGo answer")


def _truth_links(
    slim: Sequence[SyntheticApplication], truth: set[frozenset[str]]
) -> dict[frozenset[str], str]:
    """What links each truth pair, first that applies of `LINKS` (for recall per link)."""
    facts: dict[str, tuple[int, int, Any, Any]] = {}
    for synthetic in slim:
        record = synthetic.record
        bank = record.get("bank_account")
        account = None
        if isinstance(bank, dict):
            number = str(bank.get("number", ""))
            account = (bank.get("bank_code"), bank.get("branch_code"), number.lstrip("0"))
        facts[str(record["application_id"])] = (
            synthetic.person_id,
            synthetic.household_id,
            account,
            record.get("logo_answer_id"),
        )
    links: dict[frozenset[str], str] = {}
    for pair in truth:
        a, b = (facts[app_id] for app_id in pair)
        shared = [x is not None and x == y for x, y in zip(a, b, strict=True)]
        links[pair] = LINKS[shared.index(True)] if any(shared) else "other"
    return links


def pair_quality(
    clusters: Iterable[Sequence[str]],
    truth: set[frozenset[str]],
    truth_link: dict[frozenset[str], str] | None = None,
) -> Json:
    """Pairwise precision and recall of clusters against the truth pairs.

    Predicted pairs are counted as n(n-1)/2 per cluster and true positives by looking
    each truth pair up in an id -> cluster map, so no cluster is ever expanded to pairs.
    """
    cluster_of: dict[str, int] = {}
    predicted = 0
    for number, ids in enumerate(clusters):
        n = len(ids)
        if n < 2:
            continue
        predicted += n * (n - 1) // 2
        for app_id in ids:
            cluster_of[app_id] = number
    true_positive = 0
    found: dict[str, list[int]] = {}
    for pair in truth:
        a, b = tuple(pair)
        ca = cluster_of.get(a)
        hit = ca is not None and ca == cluster_of.get(b)
        true_positive += hit
        if truth_link is not None:
            tally = found.setdefault(truth_link[pair], [0, 0])
            tally[0] += hit
            tally[1] += 1
    return {
        "recall_by_link": {
            link: {"found": hit, "pairs": count, "recall": hit / count}
            for link, (hit, count) in sorted(found.items())
        },
        "predicted_pairs": predicted,
        "truth_pairs": len(truth),
        "true_positive": true_positive,
        "precision": true_positive / predicted if predicted else 1.0,
        "recall": true_positive / len(truth) if truth else 1.0,
    }


def _program_and_ward(applications: Sequence[Application]) -> tuple[Program, WardArea]:
    program = get_program(PROGRAM_ID)
    ward = ward_of(program, applications[0])
    if ward not in _COLD:
        _COLD.append(ward)
    return program, ward


_COLD: list[WardArea] = []  # the wards whose caches each pass empties


def _clear_ward_caches() -> None:
    """Empty the ward's and the kana normaliser's lru caches, so every pass starts cold.

    The ward's caches are private attributes; any that a later version renames or drops
    is skipped rather than failing the benchmark.
    """
    for ward in _COLD:
        for name in ("_normalize", "_contains"):
            clear = getattr(getattr(ward, name, None), "cache_clear", None)
            if callable(clear):
                clear()
    matching_kana.cache_clear()


# ----------------------------------------------------------------------------- children


class GcTimer:
    """Time spent in the cyclic garbage collector while it is active (via gc.callbacks)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.collections[info["generation"]] += 1

    def __enter__(self) -> GcTimer:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *_: object) -> None:
        gc.callbacks.remove(self._callback)


def _timed_pass(label: str, n: int, body: Callable[[], object], *, freeze: bool = False) -> Json:
    """Best of two cold-cache passes of `body` over `n` applications (CPU and wall time)."""
    best: Json = {}
    for _ in range(2):
        _clear_ward_caches()
        gc.collect()
        if freeze:
            gc.freeze()
        with GcTimer() as collector:
            wall, cpu = time.perf_counter(), time.process_time()
            body()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if freeze:
            gc.unfreeze()
        if not best or cpu < best["cpu_s"]:
            best = {
                "mode": label,
                "wall_s": wall,
                "cpu_s": cpu,
                "per_s_cpu": n / cpu,
                "per_s_wall": n / wall,
                "gc_s": collector.seconds,
                "gc_share": collector.seconds / wall if wall else 0.0,
                "gc_collections": collector.collections,
            }
    return best


def child_eval(size: int, seed: int) -> Json:
    """Evaluation throughput on pre-parsed applications, parse + evaluate, and a profile.

    Three ways of running the same applications: keeping every decision in a list, dropping
    each decision once made (what the CLI does: one JSON line out per record), and the
    latter with the input heap frozen (`gc.freeze()`), which shows what the cyclic garbage
    collector costs. Then the CLI's whole path per record (JSON decode, parse, evaluate).
    """
    dataset, records = load(size, seed, keep_records=True)
    lines = [json.dumps(record, ensure_ascii=False) for record in records]
    del records  # JSON text is not tracked by the garbage collector; dicts would be
    apps = dataset.applications
    program, _ = _program_and_ward(apps)
    n = len(apps)

    def retained() -> None:
        decisions = [evaluate(program, app) for app in apps]
        del decisions

    def streaming() -> None:
        for app in apps:
            evaluate(program, app)

    def decode() -> None:
        for line in lines:
            json.loads(line)

    def decode_parse_evaluate() -> None:
        for line in lines:
            evaluate(program, parse_application(json.loads(line)))

    modes = [
        _timed_pass("decisions kept in a list", n, retained),
        _timed_pass("decisions dropped (CLI pattern)", n, streaming),
        _timed_pass("decisions dropped, input heap gc.freeze()", n, streaming, freeze=True),
    ]
    decoding = _timed_pass("JSON decode only", n, decode)
    whole = _timed_pass("JSON decode + parse + evaluate", n, decode_parse_evaluate)
    parse_and_evaluate_cpu = whole["cpu_s"] - decoding["cpu_s"]
    eligible = sum(evaluate(program, app).eligible for app in apps)
    _clear_ward_caches()
    sample = apps[: min(n, 20_000)]
    profiler = cProfile.Profile()
    profiler.enable()
    for app in sample:
        evaluate(program, app)
    profiler.disable()
    return {
        "applications": n,
        "eligible": eligible,
        "modes": modes,
        "headline_mode": modes[1]["mode"],
        "per_s_cpu": modes[1]["per_s_cpu"],
        "per_s_wall": modes[1]["per_s_wall"],
        "decode": decoding,
        "decode_parse_evaluate": whole,
        "parse_and_evaluate_per_s_cpu": n / parse_and_evaluate_cpu,
        "profile_sample": len(sample),
        "profile_top": _profile_top(profiler, 15),
    }


def _profile_top(profiler: cProfile.Profile, limit: int) -> list[Json]:
    stats = pstats.Stats(profiler, stream=io.StringIO())
    timings = stats.stats  # type: ignore[attr-defined]
    overall: float = stats.total_tt  # type: ignore[attr-defined]
    total = max([overall, *(row[3] for row in timings.values())])
    rows: list[Json] = []
    for (file, line, name), (_, ncalls, tottime, cumtime, _) in timings.items():
        where = f"{Path(file).name}:{line}({name})" if line else name
        rows.append(
            {
                "function": where,
                "calls": ncalls,
                "tottime_s": round(tottime, 4),
                "cumtime_s": round(cumtime, 4),
                "tottime_share": round(tottime / total, 3) if total else 0.0,
                "cumtime_share": round(cumtime / total, 3) if total else 0.0,
            }
        )
    rows.sort(key=lambda r: r["tottime_s"], reverse=True)
    return rows[:limit]


def child_ours(size: int, seed: int) -> Json:
    """Our duplicate detection: time, peak RSS growth, tracemalloc peak, precision / recall."""
    dataset, _ = load(size, seed)
    apps = dataset.applications
    _, ward = _program_and_ward(apps)
    _clear_ward_caches()
    stop = Memory.start()
    gc.freeze()  # what a batch caller does with its loaded input (docs/PERFORMANCE.md)
    with GcTimer() as collector:
        wall, cpu = time.perf_counter(), time.process_time()
        groups = find_duplicates(apps, normalise_address=ward.normalize)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    memory = stop()
    gc.unfreeze()
    quality = pair_quality((g.application_ids for g in groups), dataset.truth, dataset.truth_link)
    group_count = len(groups)
    largest = max((len(g.application_ids) for g in groups), default=0)
    del groups
    _clear_ward_caches()
    gc.collect()
    tracemalloc.start()
    again = find_duplicates(apps, normalise_address=ward.normalize)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del again
    steps = _dedupe_steps(apps, ward)
    return {
        "size": size,
        "steps": steps,
        "applications": len(apps),
        "malformed_skipped": dataset.malformed,
        "load_s": dataset.load_s,
        "wall_s": wall,
        "cpu_s": cpu,
        "gc_s": collector.seconds,
        "gc_collections": collector.collections,
        "groups": group_count,
        "largest_group": largest,
        "tracemalloc_peak_mb": traced_peak / 2**20,
        **_memory_json(memory),
        **quality,
    }


def _dedupe_steps(apps: Sequence[Application], ward: WardArea) -> Json:
    """CPU seconds of each step of `find_duplicates`, each timed alone with cold caches:
    the address normaliser over every address, the keys of every application (which
    include it), adding them to the index, and grouping."""
    steps: Json = {}
    _clear_ward_caches()
    gc.collect()
    gc.freeze()
    gc.disable()  # as find_duplicates does
    cpu = time.process_time()
    for app in apps:
        ward.normalize(app.applicant.address)
    steps["normalise_address_s"] = time.process_time() - cpu
    _clear_ward_caches()
    cpu = time.process_time()
    keys = [
        duplicate_keys(app, normalise_address=ward.normalize, corroboration=False) for app in apps
    ]
    steps["keys_s"] = time.process_time() - cpu
    index = DuplicateIndex()
    cpu = time.process_time()
    for entry in keys:
        index.add(entry, check=False)
    steps["index_s"] = time.process_time() - cpu
    cpu = time.process_time()
    index.groups(facts_of=lambda i: corroborating_facts(apps[i]))
    steps["groups_s"] = time.process_time() - cpu
    gc.enable()
    gc.unfreeze()
    steps["address_us_each"] = steps["normalise_address_s"] / len(apps) * 1e6
    return steps


def _memory_json(memory: Memory) -> Json:
    return {
        "rss_before_mb": memory.rss_before_mb,
        "peak_rss_mb": memory.peak_rss_mb,
        "peak_rss_growth_mb": memory.peak_growth_mb,
        "peak_rss_reset": memory.peak_reset,
    }


def splink_table(apps: Sequence[Application], ward: WardArea) -> dict[str, list[Any]]:
    """One flat row per application, from our normalisers (the input splink is given)."""
    columns: dict[str, list[Any]] = {
        name: []
        for name in (
            "unique_id",
            "name_kana",
            "birth_date",
            "phone",
            "postal_code",
            "address",
            "bank_account",
            "logo_id",
        )
    }
    for app in apps:
        person = app.applicant
        account = app.bank_account
        columns["unique_id"].append(app.application_id)
        columns["name_kana"].append(matching_kana(person.name_kana))
        columns["birth_date"].append(person.birth_date.isoformat())
        columns["phone"].append(normalize_phone(person.phone) if person.phone else None)
        columns["postal_code"].append(normalize_postal_code(person.postal_code))
        columns["address"].append(ward.normalize(person.address).dwelling_key())
        columns["bank_account"].append(
            None
            if account is None
            else f"{account.bank_code}|{account.branch_code}|{account.number.zfill(7)}"
        )
        columns["logo_id"].append(app.logo_answer_id)
    return columns


def child_splink(size: int, seed: int) -> Json:
    """The same data through splink on DuckDB: time, peak RSS, precision / recall."""
    dataset, _ = load(size, seed)
    apps = dataset.applications
    _, ward = _program_and_ward(apps)
    prep = time.perf_counter()
    table = splink_table(apps, ward)
    prep_s = time.perf_counter() - prep
    n = len(apps)
    truth, truth_link = dataset.truth, dataset.truth_link
    del apps, dataset
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    stop = Memory.start()
    wall, cpu = time.perf_counter(), time.process_time()
    steps: Json = {}
    step = time.perf_counter()
    db_api = DuckDBAPI()
    frame = db_api.register(table, table_name="applications")
    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        blocking_rules_to_generate_predictions=[
            block_on("name_kana", "birth_date"),
            block_on("address"),
            block_on("phone"),
            block_on("bank_account"),
            block_on("logo_id"),
        ],
        comparisons=[
            cl.JaroWinklerAtThresholds("name_kana", [0.9]),
            cl.ExactMatch("birth_date"),
            cl.ExactMatch("phone"),
            cl.ExactMatch("postal_code"),
            cl.LevenshteinAtThresholds("address", [2]),
            cl.ExactMatch("bank_account"),
            cl.ExactMatch("logo_id"),
        ],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )
    linker = Linker(frame, settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("name_kana", "birth_date"), block_on("bank_account")], recall=0.9
    )
    steps["prior_s"] = time.perf_counter() - step
    step = time.perf_counter()
    linker.training.estimate_u_using_random_sampling(max_pairs=1e7, seed=seed)
    steps["u_s"] = time.perf_counter() - step
    step = time.perf_counter()
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("address"))
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("name_kana", "birth_date")
    )
    steps["em_s"] = time.perf_counter() - step
    step = time.perf_counter()
    predictions = linker.inference.predict(threshold_match_probability=SPLINK_THRESHOLD)
    steps["predict_s"] = time.perf_counter() - step
    step = time.perf_counter()
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=SPLINK_THRESHOLD
    )
    rows = clusters.as_duckdbpyrelation().aggregate(
        "cluster_id, list(unique_id) AS ids", "cluster_id"
    )
    members: list[list[str]] = [ids for _, ids in rows.fetchall() if len(ids) > 1]
    steps["cluster_s"] = time.perf_counter() - step
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    memory = stop()
    predicted_links = predictions.as_duckdbpyrelation().count("*").fetchall()
    return {
        "size": size,
        "applications": n,
        "prep_s": prep_s,
        "wall_s": wall,
        "cpu_s": cpu,
        "steps": steps,
        "duckdb_threads": _duckdb_threads(db_api.duckdb_con),
        "predicted_links": predicted_links[0][0] if predicted_links else None,
        "clusters": len(members),
        "largest_cluster": max((len(ids) for ids in members), default=0),
        **_memory_json(memory),
        **pair_quality(members, truth, truth_link),
    }


def _duckdb_threads(connection: Any) -> Any:
    rows = connection.execute("SELECT current_setting('threads')").fetchall()
    return rows[0][0] if rows else None


CHILDREN: dict[str, Callable[[int, int], Json]] = {
    "eval": child_eval,
    "ours": child_ours,
    "splink": child_splink,
}


def run_child(kind: str, size: int, seed: int) -> Json:
    """Run one measurement in a fresh interpreter and return its JSON (or the error)."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        command = [sys.executable, __file__, "--child", kind, "--size", str(size)]
        command += ["--seed", str(seed), "--result", str(result)]
        started = time.perf_counter()
        print(f"[bench] {kind} at {size:,} ...", file=sys.stderr, flush=True)
        completed = subprocess.run(command, check=False)
        elapsed = time.perf_counter() - started
        if completed.returncode != 0 or not result.exists():
            return {"size": size, "error": f"exit status {completed.returncode}"}
        data: Json = json.loads(result.read_text())
        data["child_elapsed_s"] = elapsed
        print(f"[bench] {kind} at {size:,} done in {elapsed:.0f} s", file=sys.stderr, flush=True)
        return data


# ----------------------------------------------------------------------------- report


def _fmt(value: Any, spec: str, suffix: str = "") -> str:
    """`value` in `spec` followed by `suffix`, or a dash as wide, when there is no value."""
    digits = spec[: len(spec) - len(spec.lstrip("0123456789"))]
    width = int(digits or 0)
    if value is None:
        return "-".rjust(width + len(suffix))
    return format(value, spec) + suffix


def _pr(row: Json | None) -> str:
    if not row or "precision" not in row:
        return "-"
    return f"{row['precision']:.3f}/{row['recall']:.3f}"


def report(results: Json) -> str:
    """The human-readable summary: throughput, the size table, the ratios and the aims."""
    lines: list[str] = []
    ev = results["evaluation"]
    lines.append(f"Evaluation ({PROGRAM_ID}, {ev.get('applications', 0):,} pre-parsed, one core)")
    if "error" in ev:
        lines.append(f"  failed: {ev['error']}")
    else:
        for mode in ev["modes"]:
            lines.append(
                f"  {mode['mode']:<44} {mode['per_s_cpu']:>9,.0f}/s CPU "
                f"{mode['per_s_wall']:>9,.0f}/s wall  (GC {mode['gc_share']:.0%} of the time)"
            )
        lines.append(
            f"  {'parse + evaluate (JSON decode subtracted)':<44} "
            f"{ev['parse_and_evaluate_per_s_cpu']:>9,.0f}/s CPU"
        )
        lines.append(f"  aim >= {AIM_EVALUATIONS_PER_S:,}/s: {'met' if ev['met'] else 'MISSED'}")
        lines.append(f"  hot spots (cProfile of {ev['profile_sample']:,} evaluations, tottime):")
        for row in ev["profile_top"][:10]:
            lines.append(
                f"    {row['tottime_share']:6.1%} self {row['cumtime_share']:6.1%} cum  "
                f"{row['function']}"
            )
    lines.append("")
    lines.append("Duplicate detection (generation and parsing excluded; fresh process per cell)")
    header = (
        f"{'size':>10} | {'ours s':>7} {'ours MB':>8} {'traced MB':>9} {'ours P/R':>11} | "
        f"{'splink s':>8} {'+prep s':>7} {'splink MB':>9} {'splink P/R':>11} | "
        f"{'splink/ours':>11} {'+prep':>6}"
    )
    lines.append(header)
    lines.append("-" * len(header))
    for row in results["dedupe"]:
        ours, theirs = row["ours"], row.get("splink")
        ratio = row.get("splink_over_ours")
        ratio_prep = row.get("splink_with_prep_over_ours")
        with_prep = None
        if theirs and "wall_s" in theirs:
            with_prep = theirs["wall_s"] + theirs["prep_s"]
        lines.append(
            f"{row['size']:>10,} | {_fmt(ours.get('wall_s'), '7.2f')} "
            f"{_fmt(ours.get('peak_rss_growth_mb'), '8.0f')} "
            f"{_fmt(ours.get('tracemalloc_peak_mb'), '9.0f')} {_pr(ours):>11} | "
            f"{_fmt((theirs or {}).get('wall_s'), '8.1f')} {_fmt(with_prep, '7.1f')} "
            f"{_fmt((theirs or {}).get('peak_rss_growth_mb'), '9.0f')} {_pr(theirs):>11} | "
            f"{_fmt(ratio, '10.1f', 'x')} {_fmt(ratio_prep, '5.1f', 'x')}"
        )
    lines.append(
        "  ours MB / splink MB: peak-RSS growth during the call; traced MB: tracemalloc peak;"
    )
    lines.append(
        "  splink s: training + prediction + clustering; +prep s: with building its flat table"
    )
    lines.append("  (our normalisers) first; ours is one core, DuckDB used every core")
    gc_parts = [
        f"{o['size']:,}: {o['gc_s']:.1f} s ({o['gc_s'] / o['wall_s']:.0%})"
        for o in (row["ours"] for row in results["dedupe"])
        if "gc_s" in o
    ]
    if gc_parts:
        lines.append("  ours, time in the cyclic garbage collector: " + "; ".join(gc_parts))
    for row in results["dedupe"]:
        steps = row["ours"].get("steps")
        if steps:
            lines.append(
                f"  ours at {row['size']:,}, steps (CPU s, each alone): address normaliser "
                f"{steps['normalise_address_s']:.2f} ({steps['address_us_each']:.1f} us each), "
                f"all keys {steps['keys_s']:.2f}, index {steps['index_s']:.2f}, "
                f"groups {steps['groups_s']:.2f}"
            )
    lines.append("Recall by what links the pair (found/pairs):")
    for row in results["dedupe"]:
        for who in ("ours", "splink"):
            by_link = (row.get(who) or {}).get("recall_by_link")
            if by_link:
                parts = [
                    f"{link} {v['recall']:.3f} ({v['found']:,}/{v['pairs']:,})"
                    for link, v in by_link.items()
                ]
                lines.append(f"  {row['size']:>10,} {who:<6} " + "; ".join(parts))
    growth = results.get("growth")
    if growth:
        lines.append(
            f"Growth t({growth['large']:,})/t({growth['small']:,}): ours {growth['ours']:.1f}"
            + (f", splink {growth['splink']:.1f}" if growth.get("splink") else "")
            + f" (size ratio {growth['large'] / growth['small']:.0f} means linear)"
        )
    for verdict in results["verdicts"]:
        lines.append(f"  {verdict}")
    lines.append(
        f"Load average at start {results['loadavg_start']}, at end {results['loadavg_end']}"
    )
    m = results["machine"]
    lines.append(
        f"Machine: {m['nproc']} CPUs, {m['cpu_model']}, Python {m['python']}, "
        f"splink {m['splink']}, duckdb {m['duckdb']}, commit {m.get('git')}"
    )
    lines.append(f"Command: {results['command']}")
    return "\n".join(lines)


def verdicts(results: Json) -> list[str]:
    """Where the aims are met or missed, in one line each."""
    out: list[str] = []
    ev = results["evaluation"]
    if "per_s_cpu" in ev:
        rate = ev["per_s_cpu"]
        ev["met"] = rate >= AIM_EVALUATIONS_PER_S
        out.append(
            f"evaluation ({ev['headline_mode']}) {rate:,.0f}/s vs aim {AIM_EVALUATIONS_PER_S:,}/s: "
            + ("met" if ev["met"] else f"MISSED ({rate / AIM_EVALUATIONS_PER_S:.0%} of aim)")
        )
    for row in results["dedupe"]:
        ours = row["ours"]
        if row["size"] == 100_000 and "wall_s" in ours:
            fast = ours["wall_s"] < AIM_DEDUPE_100K_S
            out.append(
                f"100k dedupe time: {ours['wall_s']:.2f} s < 3 s: {'met' if fast else 'MISSED'}"
            )
        if row["size"] != 1_000_000 or "wall_s" not in ours:
            continue
        memory_mb = max(ours["peak_rss_growth_mb"], ours["tracemalloc_peak_mb"])
        checks = [
            ("time", ours["wall_s"] <= AIM_DEDUPE_1M_S, f"{ours['wall_s']:.1f} s <= 30 s"),
            (
                "memory",
                memory_mb < AIM_DEDUPE_1M_MB,
                f"{memory_mb:.0f} MB (larger of RSS growth and tracemalloc peak) < 1,500 MB",
            ),
            ("precision", ours["precision"] >= AIM_PRECISION, f"{ours['precision']:.4f} >= 0.995"),
            ("recall", ours["recall"] >= AIM_RECALL, f"{ours['recall']:.4f} >= 0.99"),
        ]
        for name, ok, text in checks:
            out.append(f"1M dedupe {name}: {text}: {'met' if ok else 'MISSED'}")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--splink-max", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="sizes 10k,100k; splink <= 100k")
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--eval-size", type=int, default=100_000)
    parser.add_argument("--no-splink", action="store_true", help="skip splink entirely")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        data = CHILDREN[args.child](args.size, args.seed)
        Path(args.result).write_text(json.dumps(data))
        return 0

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    splink_max = args.splink_max
    if args.quick:
        sizes, splink_max = [10_000, 100_000], min(splink_max, 100_000)
    results: Json = {
        "started": datetime.now().isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python", "bench/rules.py", *sys.argv[1:]]),
        "machine": machine(),
        "loadavg_start": _loadavg(),
        "seed": args.seed,
        "sizes": sizes,
        "splink_max": None if args.no_splink else splink_max,
    }
    started = time.perf_counter()
    results["evaluation"] = run_child("eval", args.eval_size, args.seed)
    rows: list[Json] = []
    for size in sizes:
        row: Json = {"size": size, "ours": run_child("ours", size, args.seed)}
        if not args.no_splink and size <= splink_max:
            row["splink"] = run_child("splink", size, args.seed)
            if "wall_s" in row["splink"] and "wall_s" in row["ours"]:
                theirs, ours_s = row["splink"], row["ours"]["wall_s"]
                row["splink_over_ours"] = theirs["wall_s"] / ours_s
                row["splink_with_prep_over_ours"] = (theirs["wall_s"] + theirs["prep_s"]) / ours_s
        rows.append(row)
    results["dedupe"] = rows
    by_size = {row["size"]: row for row in rows}
    if 100_000 in by_size and 1_000_000 in by_size:
        small, large = by_size[100_000], by_size[1_000_000]
        growth: Json = {"small": 100_000, "large": 1_000_000}
        if "wall_s" in small["ours"] and "wall_s" in large["ours"]:
            growth["ours"] = large["ours"]["wall_s"] / small["ours"]["wall_s"]
        if "wall_s" in small.get("splink", {}) and "wall_s" in large.get("splink", {}):
            growth["splink"] = large["splink"]["wall_s"] / small["splink"]["wall_s"]
        if "ours" in growth:
            results["growth"] = growth
    results["loadavg_end"] = _loadavg()
    results["elapsed_s"] = time.perf_counter() - started
    results["verdicts"] = verdicts(results)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    out = OUT_DIR / f"rules-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(report(results))
    print(f"JSON: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
