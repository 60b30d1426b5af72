"""Staff output counts in the right number."""

from bhrdigest.wording import counted


def test_one_is_singular_and_every_other_count_plural():
    assert [counted(n, "digest") for n in (0, 1, 2)] == ["0 digests", "1 digest", "2 digests"]
    assert counted(1, "company", "companies") == "1 company" and counted(3, "company", "companies") == "3 companies"
