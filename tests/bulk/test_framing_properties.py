# SPDX-License-Identifier: Apache-2.0
"""Properties of CSV framing + parsing, checked against Python's csv module (an
independent parser): valid CSV round-trips field for field whatever the batch
size; any bytes at all give a clean result where the counts add up."""
import csv
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastroute.bulk import BadRowError, InputError, route_file
from fastroute.cluster import parse_cluster

CLUSTER = parse_cluster('algorithm = "ring"\n[[nodes]]\nname = "a"\n[[nodes]]\nname = "b"\n')
FIELD = st.text(alphabet=st.sampled_from(list('ab,"\n\r xé€')), min_size=0, max_size=12)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(rows=st.lists(st.tuples(st.text(alphabet="kK0123", min_size=1, max_size=6), FIELD, FIELD),
                     min_size=0, max_size=60),
       batch_rows=st.sampled_from([1, 3, 7, 1000]), crlf=st.booleans())
def test_valid_csv_round_trips_field_for_field(tmp_path_factory, rows, batch_rows, crlf):
    tmp = tmp_path_factory.mktemp("rt")
    buf = io.StringIO()
    # With a "\n" terminator Python's writer leaves a lone "\r" unquoted, which every
    # reader (Arrow's and Python's own) takes as a line break: quote every field then.
    writer = csv.writer(buf, lineterminator="\r\n") if crlf else csv.writer(buf, lineterminator="\n",
                                                                           quoting=csv.QUOTE_ALL)
    writer.writerow(["key", "p", "q"])
    writer.writerows(rows)
    (tmp / "in.csv").write_bytes(buf.getvalue().encode())
    summary = route_file(str(tmp / "in.csv"), CLUSTER, ["key"], str(tmp / "out.csv"), batch_rows=batch_rows)
    with open(tmp / "out.csv", newline="", encoding="utf-8") as f:
        got = [tuple(r[:3]) for r in list(csv.reader(f))[1:]]
    assert got == [tuple(r) for r in rows]
    assert summary.rows_out == len(rows) and summary.rows_skipped == 0
    # Physical lines after the header, with \r\n, \r and \n each one line break.
    physical = buf.getvalue().replace("\r\n", "\n").replace("\r", "\n").count("\n") - 1
    assert summary.lines_in == summary.lines_out == physical


@SETTINGS
@given(data=st.binary(max_size=400), batch_rows=st.sampled_from([1, 2, 5, 1000]),
       max_row=st.sampled_from([8, 64, 1 << 20]))
def test_any_bytes_give_a_clean_result_and_the_counts_add_up(tmp_path_factory, data, batch_rows, max_row):
    tmp = tmp_path_factory.mktemp("any")
    (tmp / "in.csv").write_bytes(b"key,v\n" + data)
    try:
        s = route_file(str(tmp / "in.csv"), CLUSTER, ["key"], str(tmp / "out.csv"), on_bad_row="skip",
                       max_bad_rows="100%", batch_rows=batch_rows, max_row_bytes=max_row,
                       rejects=str(tmp / "rejects.csv"))
    except (BadRowError, InputError) as exc:  # documented outcomes for hostile input
        assert str(exc)
        return
    assert s.rows_in == s.rows_out + s.rows_skipped
    assert s.lines_in == s.lines_out + s.lines_rejected + s.blank_lines
    with open(tmp / "rejects.csv", newline="", encoding="utf-8") as f:
        assert len(list(csv.reader(f))) - 1 == s.rows_skipped
