"""Coverage-guided fuzzing of receive_data with atheris (see docs/security.md)."""
