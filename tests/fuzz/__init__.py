"""Coverage-guided fuzzing of receive_data with atheris (see docs/topics/security.md)."""
