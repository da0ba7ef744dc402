"""DICOM: the gateway (C-ECHO, C-STORE), the checks every object passes, storage by UID and
the study index. Every way in (the gateway, STOW-RS, uploads) goes through dicom.ingest."""
