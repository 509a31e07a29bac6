"""mlver.ops.tagging: a tag that would read as a version, or is no name, is refused."""

from __future__ import annotations

import pytest

from mlver.base.errors import RevisionSyntaxError, UsageError
from mlver.ops.tagging import tag


def test_an_all_digit_tag_is_refused_before_the_revision_is_read(repo):
    with pytest.raises(RevisionSyntaxError, match="tag '12' is all digits"):
        tag(repo.store, "no-such-name", "12")


def test_a_tag_that_is_no_name_is_refused(repo):
    with pytest.raises(UsageError):
        tag(repo.store, "no-such-name", "bad tag")
