"""Record one app inside the guest (or on the host runner): the module observes only (k=0).

Started by ``cowrl/kernel/guest.py`` for a job of ``kind: record``; see
:mod:`cowrl.record.session` for what is recorded. Standard library only.
"""

from __future__ import annotations

import json
import os
import platform
import time
import traceback
from pathlib import Path
from typing import Any

from cowrl.record import drivers
from cowrl.record.session import RecordError, Session


def main(job: dict[str, Any], kguest: Any) -> int:
    """Run the recording described by ``job`` (see cowrl.record.recorder); 0 on success.

    ``kguest`` is ``cowrl/kernel/guest.py`` (its module and THP helpers)."""
    out = Path(job["out"])
    report: dict[str, Any] = {"kernel_release": platform.release(),
                              "thp_setting": kguest.set_thp(job.get("thp", "madvise"))}
    t0 = time.monotonic()
    sess = None
    try:
        sess = Session(out, job["module"], kguest)
        report["figures"] = drivers.DRIVERS[job["app"]["driver"]](sess, job["app"], out)
    except RecordError as e:
        report["error"] = str(e)
    except Exception:  # noqa: BLE001 - reported to the host as the job's error
        report["error"] = traceback.format_exc()[-1500:]
    finally:
        if sess is not None:
            try:
                report["counters"] = sess.close()
            except Exception:  # noqa: BLE001
                report.setdefault("error", traceback.format_exc()[-1500:])
            report["marks"] = sess.marks
            report["records"] = sess.n_records
            report["watched"] = sess.watched
        if kguest.module_is_loaded():
            report["final_unload_errno"] = kguest.unload_module()
        report["wall_s"] = time.monotonic() - t0
        tmp = out / "record.json.tmp"
        tmp.write_text(json.dumps(report, indent=1))
        os.replace(tmp, out / "record.json")
        # cowrl/kernel/guest.py's contract with the runner: guest.json marks the end.
        (out / "guest.json").write_text(json.dumps({"kernel_release": report["kernel_release"],
                                                    "runs": [], "kind": "record"}))
    return 0 if "error" not in report else 1
