"""LIST parsing and junk discovery, from answers as servers send them."""

from __future__ import annotations

from postwarden.core.imap import Folder, decode_modified_utf7, find_junk, parse_list


def test_it_parses_atoms_quoted_names_and_literals() -> None:
    folders = parse_list(
        [
            b'(\\HasNoChildren \\Junk) "/" Junk',
            b'(\\HasNoChildren) "/" "Sent Items"',
            (b'(\\HasNoChildren) "/" {12}', b'Say "hi" \\ x'),
            b'(\\Noselect \\HasChildren) "/" "[Gmail]"',
            b"(\\HasNoChildren) NIL Flat",
            b"garbage",
            None,
        ]
    )
    assert [(f.name, f.delimiter) for f in folders] == [
        ("Junk", "/"),
        ("Sent Items", "/"),
        ('Say "hi" \\ x', "/"),
        ("[Gmail]", "/"),
        ("Flat", ""),
    ]
    assert folders[0].special_use == "\\Junk"
    assert not folders[3].selectable


def test_modified_utf7_names_are_decoded_for_people() -> None:
    assert decode_modified_utf7("Courrier ind&AOk-sirable") == "Courrier indésirable"
    assert decode_modified_utf7("Tom &- Jerry") == "Tom & Jerry"
    assert decode_modified_utf7("&ZeVnLIqe-") == "日本語"
    assert decode_modified_utf7("broken &!!!-") == "broken &!!!-"


def _folder(name: str, *attributes: str, delimiter: str = "/") -> Folder:
    return Folder(name=name, delimiter=delimiter, attributes=frozenset(attributes))


def test_the_special_use_flag_wins_over_names() -> None:
    folders = [_folder("INBOX"), _folder("Spam"), _folder("Quarantine", "\\Junk")]
    assert find_junk(folders) == folders[2]


def test_the_usual_names_are_found_at_any_level_and_case() -> None:
    assert find_junk([_folder("INBOX"), _folder("[Gmail]/Spam")]) == _folder("[Gmail]/Spam")
    assert find_junk([_folder("INBOX.Junk E-mail", delimiter=".")]) == _folder(
        "INBOX.Junk E-mail", delimiter="."
    )
    assert find_junk([_folder("Courrier ind&AOk-sirable")]) == _folder("Courrier ind&AOk-sirable")
    assert find_junk([_folder("BULK MAIL")]) == _folder("BULK MAIL")


def test_no_junk_folder_and_unselectable_ones_are_none() -> None:
    assert find_junk([_folder("INBOX"), _folder("Archive"), _folder("Spam", "\\Noselect")]) is None
