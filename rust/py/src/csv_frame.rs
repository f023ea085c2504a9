// SPDX-License-Identifier: Apache-2.0
//! Binding of the CSV framer: bytes in, framing arrays out, GIL released.

use numpy::{IntoPyArray, PyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use fastroute_engine::csv_frame::CsvFramer;

#[pyclass(module = "fastroute._rust", name = "CsvFramer")]
pub struct PyCsvFramer {
    inner: CsvFramer,
}

#[pymethods]
impl PyCsvFramer {
    #[new]
    fn new(max_row_bytes: usize) -> PyResult<Self> {
        if max_row_bytes == 0 {
            return Err(PyValueError::new_err("max_row_bytes: must be at least 1"));
        }
        Ok(PyCsvFramer { inner: CsvFramer::new(max_row_bytes) })
    }

    /// Field count every following record must have (0: any).
    #[setter]
    fn set_expected_fields(&mut self, n: u32) {
        self.inner.expected_fields = n;
    }

    /// Line number on which the next record starts.
    #[getter]
    fn next_line(&self) -> u64 {
        self.inner.next_line
    }

    /// Frames `buf[offset:]`. Returns (consumed, good_runs int64[k, 2] as a flat
    /// array, row_lines uint64[rows], good_lines, bad [(line, start, end, code,
    /// detail)], bad_lines, blank_lines, last_fields,
    /// multiline uint64[2m]: (row index, extra lines) pairs).
    fn frame<'py>(
        &mut self,
        py: Python<'py>,
        buf: &Bound<'py, PyBytes>,
        offset: usize,
        at_eof: bool,
        max_records: usize,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let data = buf.as_bytes();
        let framer = &mut self.inner;
        let framed = py.detach(|| framer.frame(data, offset, at_eof, max_records));
        let runs: Vec<i64> = framed.good_runs.iter().flat_map(|&(s, e)| [s as i64, e as i64]).collect();
        let bad = PyList::empty(py);
        for b in &framed.bad {
            let (code, detail) = b.reason.code();
            bad.append((b.line, b.start, b.end, code, detail))?;
        }
        let multiline: Vec<u64> = framed.multiline_rows.iter().flat_map(|&(i, b)| [i, b]).collect();
        let multiline: Bound<'py, PyArray1<u64>> = multiline.into_pyarray(py);
        let runs: Bound<'py, PyArray1<i64>> = runs.into_pyarray(py);
        let lines: Bound<'py, PyArray1<u64>> = framed.row_lines.into_pyarray(py);
        (
            framed.consumed,
            runs,
            lines,
            framed.good_lines,
            bad,
            framed.bad_lines,
            framed.blank_lines,
            framed.last_fields,
            multiline,
        )
            .into_pyobject(py)
    }
}
