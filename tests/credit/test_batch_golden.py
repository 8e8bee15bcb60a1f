"""The whole batch output, pinned: loans.arrow columns, paths.npz and batch.json of
generated portfolios (both layouts) mixed with every odd and malformed object the tests
know, hashed. The expected digest was recorded from the per-object batch path (before the
vectorised one), so any change to a result, a reject or a count shows here."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from montemap.credit.batch import handle_batch
from montemap.credit.generator import generate
from montemap.credit.portfolio import SOURCE_BUCKET, Destination, data_key
from montemap.storage import LocalObjectStore
from tests.credit.malformed import MALFORMED, ODD

AS_OF = dt.date(2026, 11, 27)
OUT = "montemap-results"
#: sha256 of the outputs below, recorded from the per-object batch path; re-recorded
#: once, when numbers in digits other than ASCII were first rejected (two ODD objects,
#: an Arabic-Indic AccountID and Rate, became rejects): without those two objects the
#: digest before and after that change is the same (906aa857...).
EXPECTED = "e22065323feb9fcecb552b83722e3df99e7d96d3c204d7ccb6899b3089554d40"


def _keys(store: LocalObjectStore) -> list[str]:
    generate(Destination(store, SOURCE_BUCKET), 1500, layout="realistic", seed=11, as_of=AS_OF)
    generate(Destination(store, SOURCE_BUCKET, "seed/"), 300, layout="seed", seed=4, as_of=AS_OF)
    keys = [data_key(i, 1500) for i in range(1, 1501)]
    keys += [data_key(i, 300, "seed/") for i in range(1, 301)]
    extra = []
    for i, (data, _) in enumerate(MALFORMED):
        extra.append(f"bad/{i:03d}.csv")
        store.put(SOURCE_BUCKET, extra[-1], data)
    for i, data in enumerate(ODD):
        extra.append(f"odd/{i:03d}.csv")
        store.put(SOURCE_BUCKET, extra[-1], data)
    extra.append("missing/none.csv")
    # spread the extra objects over the batches, between the generated ones
    for j, key in enumerate(extra):
        keys.insert((j * 97) % len(keys), key)
    return keys


def _hash_table(digest: hashlib._Hash, table: pa.Table) -> None:
    for name in table.column_names:
        col = table.column(name).combine_chunks()
        digest.update(f"{name}:{col.type}:{col.null_count}\n".encode())
        digest.update(np.asarray(col.is_valid().to_numpy(zero_copy_only=False)).tobytes())
        if pa.types.is_string(col.type):
            digest.update("\x1f".join(pc.fill_null(col, "").to_pylist()).encode())
        else:
            filled = pc.fill_null(col, pa.scalar(0, col.type) if col.type != pa.bool_() else False)
            digest.update(np.asarray(filled.to_numpy(zero_copy_only=False)).tobytes())


def _run(tmp_path: Path) -> str:
    store = LocalObjectStore(tmp_path / "buckets")
    keys = _keys(store)
    params = {
        "output_bucket": OUT,
        "output_prefix": "runs/golden",
        "paths": 256,
        "seed": 5,
        "as_of": AS_OF.isoformat(),
        "shocks_bp": [0, 100, 200, 300],
    }
    digest = hashlib.sha256()
    for start in range(0, len(keys), 400):
        items = [{"Bucket": SOURCE_BUCKET, "Key": k} for k in keys[start : start + 400]]
        out = handle_batch({"Items": items, "BatchInput": params}, None, store=store)
        folder = f"runs/golden/batches/{out['batch_id']}"
        doc = json.loads(store.get(OUT, f"{folder}/batch.json"))
        digest.update(json.dumps(doc, sort_keys=True).encode())
        with np.load(io.BytesIO(store.get(OUT, f"{folder}/paths.npz"))) as npz:
            for name in sorted(npz.files):
                digest.update(f"{name}{npz[name].dtype}{npz[name].shape}".encode())
                digest.update(npz[name].tobytes())
        # the rows moved from loans.parquet to loans.arrow (same schema, same values; the
        # hash reads each column whole, so the file format does not enter it)
        rows = ipc.open_file(io.BytesIO(store.get(OUT, f"{folder}/loans.arrow"))).read_all()
        _hash_table(digest, rows)
    return digest.hexdigest()


def test_whole_batch_output_is_unchanged(tmp_path: Path) -> None:
    assert _run(tmp_path) == EXPECTED
