"""A pytest plugin for tests/test_hypothesis_profile.py: prints the settings a fuzz module built."""


def pytest_collection_finish(session):
    from tests.api.test_fuzz import FUZZ

    print(f"FUZZ derandomize={FUZZ.derandomize} database={FUZZ.database}")
