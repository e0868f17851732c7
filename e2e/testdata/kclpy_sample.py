#!/usr/bin/env python3
"""amazon-kclpy's own sample record processor, with the kclgo sample contract added.

Runs `samples/sample_kclpy_app.py` from the amazon-kclpy sdist (found on PYTHONPATH, see scripts/kclpy.sh)
unchanged, except that:
  * every record it processes is appended to $KCLGO_RECORD_LOG as "R\\tshard\\tpk\\tseq\\tsubseq" (instead of
    the sample's per-record stderr line), and every successful checkpoint as "C\\tshard\\tseq\\tsubseq";
  * KCLGO_SAMPLE_FAIL_BATCH=N makes the N-th process_records call exit the process with status 3;
  * KCLGO_CHECKPOINT_SECONDS overrides the sample's 30 s checkpoint interval.
Speaks the 2.x/3.x protocol only (amazon_kclpy v3 processor).
"""
import os
import sys

from amazon_kclpy import kcl
import sample_kclpy_app

_log_path = os.environ.get("KCLGO_RECORD_LOG")
_log_fd = os.open(_log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if _log_path else None
_fail_at = int(os.environ.get("KCLGO_SAMPLE_FAIL_BATCH") or 0)
_shard = [""]


def _log(line):
    if _log_fd is not None:
        os.write(_log_fd, line.encode())  # one write call per line


def _s(v):
    return "" if v is None else str(v)


_orig_checkpoint = kcl.Checkpointer.checkpoint


def _logged_checkpoint(self, sequence_number=None, sub_sequence_number=None):
    _orig_checkpoint(self, sequence_number, sub_sequence_number)  # raises CheckpointError on failure
    _log("C\t%s\t%s\t%s\n" % (_shard[0], _s(sequence_number), _s(sub_sequence_number)))


kcl.Checkpointer.checkpoint = _logged_checkpoint


class LoggedProcessor(sample_kclpy_app.RecordProcessor):
    def __init__(self):
        super().__init__()
        self._batches = 0
        secs = os.environ.get("KCLGO_CHECKPOINT_SECONDS")
        if secs:
            self._CHECKPOINT_FREQ_SECONDS = int(secs)

    def initialize(self, initialize_input):
        _shard[0] = initialize_input.shard_id
        super().initialize(initialize_input)

    def process_record(self, data, partition_key, sequence_number, sub_sequence_number):
        _log("R\t%s\t%s\t%s\t%s\n" % (_shard[0], partition_key, sequence_number, _s(sub_sequence_number)))

    def process_records(self, process_records_input):
        self._batches += 1
        if self._batches == _fail_at:
            sys.stderr.write("kclpy_sample: failing process_records call %d as asked\n" % self._batches)
            sys.stderr.flush()
            os._exit(3)
        super().process_records(process_records_input)


if __name__ == "__main__":
    kcl.KCLProcess(LoggedProcessor()).run()
