"""Whole-file transcription: windowing and unwrapping, note decoding, mir_eval evaluation, the CQT-energy baseline."""
