"""The netkort HTTP service: a thin FastAPI layer over coverage/."""
