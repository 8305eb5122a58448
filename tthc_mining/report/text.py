"""Words of the report: section titles, notes and column labels in Vietnamese and English.

Column labels come from the analysis modules' own label tables (``summary.LABELS``,
``bottlenecks.LABELS_VI``, ``handovers.LABELS_VI``, ``overdue.LABELS_VI``, ``rework``'s and
``cuts``' ``LABELS``) with the English ones added here; :func:`column_label` falls back to the
column key, so a column added later still shows (in English) instead of disappearing.
"""
from __future__ import annotations

import math
from typing import Any

LANGS = ("vi", "en")

#: section ids in report order
SECTIONS = ("summary", "process_map", "bottlenecks", "handovers", "overdue", "rework", "cuts",
            "quality", "methods")

TEXT: dict[str, dict[str, str]] = {
    "vi": {
        "title": "Báo cáo khai phá quy trình thủ tục hành chính",
        "subtitle": "Thời gian làm việc thực tế, điểm nghẽn, vòng lặp và phương án cắt giảm",
        "source": "Nguồn dữ liệu", "procedure": "Thủ tục", "all_procedures": "Tất cả thủ tục",
        "period": "Thời gian tiếp nhận", "as_of": "Tính đến", "generated": "Lập lúc",
        "version": "Phần mềm", "dossiers": "hồ sơ", "events": "sự kiện",
        "contents": "Mục lục", "key_findings": "Điểm chính",
        "summary": "Chỉ tiêu giải quyết hồ sơ: theo báo cáo và tính lại từ dữ liệu gốc",
        "process_map": "Bản đồ quy trình",
        "bottlenecks": "Điểm nghẽn",
        "handovers": "Chuyển giao giữa các đơn vị",
        "overdue": "Trễ hạn theo đơn vị",
        "rework": "Vòng lặp xử lý lại và đồng hồ ẩn",
        "cuts": "Phương án cắt giảm thời gian và chi phí",
        "quality": "Chất lượng dữ liệu",
        "methods": "Phương pháp, định nghĩa và giả định",
        "map_frequency": "Tần suất", "map_performance": "Thời gian",
        "by_procedure": "Theo thủ tục", "by_unit": "Theo đơn vị", "by_month": "Theo tháng",
        "by_step": "Theo bước xử lý", "patterns": "Mẫu vòng lặp thường gặp",
        "clock": "Đồng hồ ẩn theo đơn vị", "rework_summary": "Tổng hợp vòng lặp",
        "indicator": "Chỉ tiêu", "reported": "Theo hệ thống một cửa (báo cáo)",
        "recomputed": "Tính lại từ sự kiện gốc", "value": "Giá trị", "ci95": "Khoảng tin cậy 95%",
        "n": "Số hồ sơ (n)",
        "showing": "Hiển thị {k} / {n} dòng; bảng đầy đủ trong tệp Excel/JSON.",
        "unavailable": "Không có", "error": "Lỗi khi tính mục này",
        "no_rows": "Không có dòng nào.",
        "cuts_missing": "Chức năng cắt giảm (tm.cuts, tm.suggest_cuts, tm.score_cuts) chưa có trong "
                        "phiên bản này của thư viện: mục này để trống.",
        "cuts_none": "Không đề xuất được phương án cắt giảm nào từ dữ liệu.",
        "cuts_large": "Nhật ký có hơn {n} hồ sơ: các phương án được chấm điểm bằng phát lại (replay), "
                      "không mô phỏng hàng đợi; phương án có cảnh báo hàng đợi nên được kiểm tra bằng "
                      "mô phỏng cho từng thủ tục (tthc-mining cuts LOG --procedure MÃ --method simulate).",
        "cuts_capped": "Đã chấm điểm {k} phương án có tiềm năng lớn nhất trong {n} phương án được đề "
                       "xuất; danh sách đầy đủ các đề xuất có trong tệp Excel/JSON.",
        "no_dot": "Chưa cài chương trình Graphviz 'dot': bản đồ được thay bằng bảng số liệu.",
        "no_units": "Nhật ký không có cột đơn vị xử lý (org:group): không phân tích được chuyển giao.",
        "ranked_by": "Xếp hạng theo tổng số giờ chờ (hồ sơ × giờ làm việc).",
        "kpi_chart": "Tỷ lệ đúng hạn theo thủ tục: báo cáo và tính lại (khoảng tin cậy Wilson 95%)",
        "bn_chart": "Thời gian chờ trung bình tại các bước nghẽn nhất (giờ làm việc, KTC 95%)",
        "od_chart": "Số ngày trễ hạn do đơn vị gây ra (ngày làm việc)",
        "rw_chart": "Tỷ lệ hồ sơ có vòng lặp (KTC Wilson 95%)",
        "cut_chart": "Thời gian tiết kiệm trung bình mỗi hồ sơ (ngày làm việc, KTC 95%)",
        "rate": "Tỷ lệ", "hours": "Giờ làm việc", "days": "Ngày làm việc",
        "rank": "Hạng", "saving": "Tiết kiệm/hồ sơ (ngày LV)", "vnd_year": "đồng/năm",
        "small_sample": "ít hồ sơ (< 30): diễn giải thận trọng",
        "yes": "có", "no": "không",
        "finding_gap": "Tỷ lệ đúng hạn theo báo cáo là {rep}, tính lại theo thời gian cơ quan thực sự "
                       "xử lý là {act} (chênh lệch {gap} điểm phần trăm).",
        "finding_bn": "Điểm nghẽn lớn nhất: «{name}» — {total} giờ chờ (hồ sơ × giờ), chờ trung bình "
                      "{mean} giờ làm việc (KTC 95% {ci}).",
        "finding_od": "Đơn vị gây trễ hạn nhiều nhất: «{name}» — {days} ngày trễ hạn, {n} hồ sơ.",
        "finding_rw": "{share} hồ sơ có ít nhất một vòng lặp xử lý lại (KTC 95% {ci}).",
        "finding_cut": "Phương án tiết kiệm nhiều nhất: {label} — trung bình {days} ngày làm việc mỗi "
                       "hồ sơ (KTC 95% {ci}), {vnd} đồng/năm theo cách tính của tỉnh.",
        "finding_cut_same_deadline": "Phương án tiết kiệm nhiều nhất: {label} — trung bình {days} ngày "
                                     "làm việc mỗi hồ sơ (KTC 95% {ci}); thời hạn giải quyết không đổi "
                                     "nên cách tính của tỉnh (theo số ngày cắt giảm trong thời hạn) "
                                     "ghi nhận 0 đồng/năm.",
        "print_note": "Bản in: mỗi mục bắt đầu trên trang mới.",
        "footer": "Báo cáo được tạo tự động bởi tthc_mining; mọi con số tính từ nhật ký hồ sơ "
                  "ở trên theo các định nghĩa trong mục Phương pháp.",
    },
    "en": {
        "title": "Process mining report: administrative procedures",
        "subtitle": "Working time actually spent, bottlenecks, rework loops and procedure cuts",
        "source": "Data source", "procedure": "Procedure", "all_procedures": "All procedures",
        "period": "Received", "as_of": "As of", "generated": "Generated",
        "version": "Software", "dossiers": "dossiers", "events": "events",
        "contents": "Contents", "key_findings": "Key findings",
        "summary": "Dossier KPIs: as reported and recomputed from raw events",
        "process_map": "Process map",
        "bottlenecks": "Bottlenecks",
        "handovers": "Hand-overs between units",
        "overdue": "Overdue attribution per unit",
        "rework": "Rework loops and the hidden clock",
        "cuts": "Procedure cuts: time and cost saved",
        "quality": "Data quality",
        "methods": "Methods, definitions and assumptions",
        "map_frequency": "Frequency", "map_performance": "Performance",
        "by_procedure": "By procedure", "by_unit": "By unit", "by_month": "By month",
        "by_step": "By step", "patterns": "Most frequent loop patterns",
        "clock": "Hidden clock per unit", "rework_summary": "Rework summary",
        "indicator": "Indicator", "reported": "As the one-stop system reports it",
        "recomputed": "Recomputed from raw events", "value": "Value", "ci95": "95% interval",
        "n": "Dossiers (n)",
        "showing": "Showing {k} of {n} rows; the full table is in the Excel/JSON files.",
        "unavailable": "Not available", "error": "This section failed",
        "no_rows": "No rows.",
        "cuts_missing": "The cut engines (tm.cuts, tm.suggest_cuts, tm.score_cuts) are not available "
                        "in this version of the library: this section is empty.",
        "cuts_none": "No candidate cut could be derived from the data.",
        "cuts_large": "The log has more than {n} dossiers: cuts are scored by the replay engine, "
                      "without the queue simulation; check cuts with a queue warning by simulation, "
                      "procedure by procedure (tthc-mining cuts LOG --procedure CODE --method simulate).",
        "cuts_capped": "Scored the {k} suggestions with the largest potential out of {n}; every "
                       "suggestion is listed in the Excel/JSON files.",
        "no_dot": "Graphviz 'dot' is not installed: the map is shown as a table.",
        "no_units": "The log has no unit column (org:group): hand-overs cannot be analysed.",
        "ranked_by": "Ranked by total waiting (dossier × working hours).",
        "kpi_chart": "On-time rate per procedure: reported vs recomputed (Wilson 95% intervals)",
        "bn_chart": "Mean waiting at the worst bottlenecks (working hours, 95% CI)",
        "od_chart": "Overdue working days caused per unit",
        "rw_chart": "Dossiers with a rework loop (Wilson 95% CI)",
        "cut_chart": "Mean saving per dossier (working days, 95% CI)",
        "rate": "Rate", "hours": "Working hours", "days": "Working days",
        "rank": "Rank", "saving": "Saving/dossier (working days)", "vnd_year": "VND/year",
        "small_sample": "small sample (< 30): read with care",
        "yes": "yes", "no": "no",
        "finding_gap": "The reported on-time rate is {rep}; recomputed on the time the agency "
                       "actually spent it is {act} (a gap of {gap} percentage points).",
        "finding_bn": "Worst bottleneck: «{name}» — {total} dossier-hours of waiting, mean wait "
                      "{mean} working hours (95% CI {ci}).",
        "finding_od": "Unit causing most overdue time: «{name}» — {days} overdue working days, "
                      "{n} dossiers.",
        "finding_rw": "{share} of dossiers have at least one rework loop (95% CI {ci}).",
        "finding_cut": "Largest saving: {label} — {days} working days per dossier on average "
                       "(95% CI {ci}), {vnd} VND per year by the provincial formula.",
        "finding_cut_same_deadline": "Largest saving: {label} — {days} working days per dossier on "
                                     "average (95% CI {ci}); the statutory deadline is unchanged, so "
                                     "the provincial formula (days cut from the deadline) credits it "
                                     "with 0 VND per year.",
        "print_note": "Printed: each section starts on a new page.",
        "footer": "Generated by tthc_mining; every figure is computed from the dossier log above "
                  "with the definitions in the Methods section.",
    },
}

#: (Vietnamese, English) labels of result columns not labelled by the analysis modules
EXTRA_LABELS: dict[str, tuple[str, str]] = {
    "level": ("Cấp", "Level"), "key": ("Khóa", "Key"),
    "procedure": ("Mã TTHC", "Procedure"), "procedure_name": ("Tên thủ tục", "Procedure name"),
    "unit": ("Đơn vị", "Unit"), "month": ("Tháng", "Month"),
    "activity": ("Bước xử lý", "Step"), "source": ("Bước trước", "From step"),
    "target": ("Bước sau", "To step"), "resource": ("Cán bộ xử lý", "Officer"),
    "count": ("Số lượt", "Events"), "cases": ("Số hồ sơ", "Dossiers"),
    "share": ("Tỷ trọng", "Share"),
    "wait_mean_h": ("Thời gian chờ trung bình (giờ làm việc)", "Mean wait (working hours)"),
    "wait_mean_ci_low": ("Cận dưới KTC (giờ)", "CI low (hours)"),
    "wait_mean_ci_high": ("Cận trên KTC (giờ)", "CI high (hours)"),
    "wait_median_h": ("Trung vị thời gian chờ (giờ)", "Median wait (hours)"),
    "wait_p90_h": ("Phân vị 90 thời gian chờ (giờ)", "90th percentile wait (hours)"),
    "wait_sum_h": ("Tổng giờ chờ", "Total wait (hours)"),
    "wait_total_h": ("Tổng giờ chờ", "Total wait (hours)"),
    "proc_mean_h": ("Thời gian xử lý trung bình (giờ)", "Mean processing (hours)"),
    "proc_median_h": ("Trung vị thời gian xử lý (giờ)", "Median processing (hours)"),
    "proc_p90_h": ("Phân vị 90 thời gian xử lý (giờ)", "90th percentile processing (hours)"),
    "proc_sum_h": ("Tổng giờ xử lý", "Total processing (hours)"),
    "n_wait": ("Số lượt có thời gian chờ", "Events with a wait"),
    "n_proc": ("Số lượt có thời gian xử lý", "Events with processing time"),
    "n_timed": ("Số lượt đo được", "Timed transitions"),
    "mean_h": ("Thời gian trung bình (giờ làm việc)", "Mean (working hours)"),
    "median_h": ("Trung vị (giờ)", "Median (hours)"), "p90_h": ("Phân vị 90 (giờ)", "90th percentile (hours)"),
    "sum_h": ("Tổng (giờ)", "Total (hours)"),
    "total_wait_h": ("Tổng giờ chờ (hồ sơ × giờ)", "Total wait (dossier-hours)"),
    "excess_wait_h": ("Giờ vượt định mức", "Hours over the allotment"),
    "excess_basis": ("Căn cứ định mức", "Allotment basis"),
    "share_of_agency_time": ("Tỷ trọng trong thời gian của cơ quan", "Share of agency time"),
    "share_in_overdue": ("Tỷ trọng trong thời gian hồ sơ quá hạn", "Share of overdue dossiers' time"),
    "trend_per_month": ("Xu hướng (giờ/tháng)", "Trend (hours per month)"),
    "trend_p": ("Giá trị p của xu hướng", "Trend p-value"), "trend_months": ("Số tháng", "Months"),
    "handover_share": ("Tỷ lệ chờ tại điểm chuyển giao", "Share of wait at hand-overs"),
    "proc_share": ("Tỷ lệ thời gian xử lý", "Processing share"),
    "queue_rho": ("Tương quan chờ – tồn đọng (Spearman)", "Wait-backlog correlation (Spearman)"),
    "queue_p": ("Giá trị p (tồn đọng)", "p-value (backlog)"),
    "batch_share": ("Tỷ lệ hoàn thành dồn cục", "Batched completions share"),
    "kind": ("Loại", "Kind"), "kind_evidence": ("Căn cứ", "Evidence"),
    "from_unit": ("Đơn vị chuyển", "From unit"), "to_unit": ("Đơn vị nhận", "To unit"),
    "transfers": ("Số lượt chuyển", "Transfers"),
    "share_of_budget": ("Tỷ lệ thời hạn giải quyết bị tiêu tốn", "Share of the statutory budget"),
    "budget_n": ("Số lượt có thời hạn", "Transfers with a deadline"),
    "step": ("Bước xử lý", "Step"),
    "overdue_dossiers": ("Số hồ sơ trễ hạn liên quan", "Overdue dossiers involved"),
    "dossier_share": ("Tỷ lệ trong số hồ sơ trễ hạn", "Share of overdue dossiers"),
    "dossier_share_ci_low": ("Cận dưới (Wilson 95%)", "CI low (Wilson 95%)"),
    "dossier_share_ci_high": ("Cận trên (Wilson 95%)", "CI high (Wilson 95%)"),
    "overdue_days_caused": ("Số ngày trễ hạn do đơn vị gây ra", "Overdue days caused"),
    "excess_days": ("Vượt định mức (ngày làm việc)", "Excess over allotment (working days)"),
    "metric": ("Chỉ tiêu (mã)", "Metric (key)"), "label_vi": ("Chỉ tiêu", "Label (Vietnamese)"),
    "label_en": ("Chỉ tiêu (tiếng Anh)", "Label"), "value": ("Giá trị", "Value"),
    "ci_low": ("Cận dưới KTC", "CI low"), "ci_high": ("Cận trên KTC", "CI high"),
    "n": ("Số hồ sơ (n)", "n"), "scope": ("Phạm vi", "Scope"), "note": ("Ghi chú", "Note"),
    "pattern": ("Mẫu", "Pattern"), "fragment": ("Chuỗi bước lặp", "Loop fragment"),
    "length": ("Độ dài", "Length"), "loops": ("Số vòng lặp", "Loops"),
    "dossiers": ("Số hồ sơ", "Dossiers"), "share_of_loops": ("Tỷ trọng trong các vòng lặp", "Share of loops"),
    "agency_h_total": ("Tổng giờ cơ quan", "Agency hours, total"),
    "agency_h_mean": ("Giờ cơ quan bình quân mỗi vòng", "Agency hours per loop"),
    "citizen_h_total": ("Tổng giờ công dân", "Citizen hours, total"),
    "citizen_h_mean": ("Giờ công dân bình quân mỗi vòng", "Citizen hours per loop"),
    "extra_steps_mean": ("Số bước phát sinh bình quân", "Extra steps per loop"),
    "reason": ("Lý do", "Reason"), "action": ("Xử lý", "Action"), "examples": ("Ví dụ (dòng)", "Example rows"),
    "column": ("Cột", "Column"), "detail": ("Chi tiết", "Detail"),
    "rank": ("Hạng", "Rank"), "cut_spec": ("Mô tả kỹ thuật (JSON)", "Specification (JSON)"),
    "potential_h": ("Tiềm năng (giờ)", "Potential (hours)"),
    "evidence_vi": ("Căn cứ", "Evidence (Vietnamese)"), "evidence_en": ("Căn cứ (tiếng Anh)", "Evidence"),
    "saved_ci_low": ("Cận dưới KTC (ngày)", "CI low (days)"),
    "saved_ci_high": ("Cận trên KTC (ngày)", "CI high (days)"),
    "dossier_days_saved_per_year_low": ("Cận dưới ngày-hồ sơ/năm", "Dossier-days per year, CI low"),
    "dossier_days_saved_per_year_high": ("Cận trên ngày-hồ sơ/năm", "Dossier-days per year, CI high"),
    "on_time_before_low": ("Cận dưới (hiện nay)", "On time now, CI low"),
    "on_time_before_high": ("Cận trên (hiện nay)", "On time now, CI high"),
    "on_time_after_low": ("Cận dưới (sau cắt giảm)", "On time after, CI low"),
    "on_time_after_high": ("Cận trên (sau cắt giảm)", "On time after, CI high"),
    "on_time_diff_low": ("Cận dưới thay đổi", "Change, CI low"),
    "on_time_diff_high": ("Cận trên thay đổi", "Change, CI high"),
    "draws": ("Số lần rút ngẫu nhiên", "Random draws"),
    "item": ("Mục", "Item"), "title": ("Tiêu đề", "Title"), "text": ("Nội dung", "Text"),
    "section": ("Mục", "Section"), "status": ("Trạng thái", "Status"), "rows": ("Số dòng", "Rows"),
    "first": ("Bước đầu", "First step"),
}


def _module_labels() -> dict[str, tuple[str, str]]:
    """(vi, en) labels gathered from the analysis modules (imported lazily, cached)."""
    global _MODULE_LABELS
    if _MODULE_LABELS is not None:
        return _MODULE_LABELS
    out: dict[str, tuple[str, str]] = {}
    import importlib
    for mod, attr in (("tthc_mining.summary", "LABELS"), ("tthc_mining.rework.report", "LABELS"),
                      ("tthc_mining.cuts.score", "LABELS")):
        try:
            table = getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError):  # an optional module missing: keep the others
            continue
        for k, v in table.items():
            if isinstance(v, tuple) and len(v) == 2:
                out[k] = (str(v[0]), str(v[1]))
    for mod in ("tthc_mining.bottlenecks", "tthc_mining.handovers", "tthc_mining.overdue"):
        try:
            table = getattr(importlib.import_module(mod), "LABELS_VI")
        except (ImportError, AttributeError):
            continue
        for k, vi in table.items():
            en = EXTRA_LABELS.get(k, (None, k))[1]
            out.setdefault(k, (str(vi), en))
    _MODULE_LABELS = out
    return out


_MODULE_LABELS: dict | None = None


def column_label(key: str, lang: str = "vi") -> str:
    """Label of a result column: the analysis module's own label, then ours, then the key."""
    i = 0 if lang == "vi" else 1
    if key in EXTRA_LABELS:
        return EXTRA_LABELS[key][i]
    lab = _module_labels().get(key)
    if lab is not None:
        return lab[i]
    return key


def t(key: str, lang: str = "vi") -> str:
    return TEXT[lang][key]


# ====================================================================== number formatting
def _finite(x: Any) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def fmt_num(x: Any, digits: int = 1, lang: str = "vi") -> str:
    """A number with thousands separators, Vietnamese style (``1.234,5``) for ``lang="vi"``."""
    if isinstance(x, bool):
        return t("yes", lang) if x else t("no", lang)
    if not _finite(x):
        return "—"
    s = f"{float(x):,.{digits}f}"
    if lang == "vi":
        s = s.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return s


def fmt_int(x: Any, lang: str = "vi") -> str:
    return fmt_num(x, 0, lang)


def fmt_pct(x: Any, lang: str = "vi", digits: int = 1) -> str:
    """A share (0..1) as a percentage."""
    if not _finite(x):
        return "—"
    return fmt_num(100.0 * float(x), digits, lang) + "%"


def fmt_ci(lo: Any, hi: Any, lang: str = "vi", *, digits: int = 1, pct: bool = False) -> str:
    """An interval ``[lo; hi]`` (``;`` in Vietnamese, whose decimal mark is the comma)."""
    if not (_finite(lo) and _finite(hi)):
        return "—"
    f = (lambda v: fmt_pct(v, lang, digits)) if pct else (lambda v: fmt_num(v, digits, lang))
    sep = "; " if lang == "vi" else ", "
    return f"[{f(lo)}{sep}{f(hi)}]"
