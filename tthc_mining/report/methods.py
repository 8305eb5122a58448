"""The methods section: every definition and assumption behind the report's figures.

The text is written once per language and filled with the values of the run (calendar, interval
level, bootstrap replicates, cost parameters, date of the statuses), so what the reader sees is
what was computed. The same items go to the JSON document (``methods``) and the Excel sheet.
"""
from __future__ import annotations


from .text import fmt_num

__all__ = ["methods"]


def _hours(cal: dict) -> str:
    return ", ".join(f"{a}–{b}" for a, b in cal.get("office_hours", [])) or "?"


def methods(ctx: dict, lang: str = "vi") -> list[dict]:
    """Items ``{"id", "title", "text"}`` (text = list of paragraphs) for one language.

    ``ctx`` keys: ``calendar`` (``WorkingCalendar.to_dict()``), ``ci``, ``n_boot``, ``seed``,
    ``as_of``, ``catalog`` (bool), ``cost`` (``CostParams.to_dict()`` or None),
    ``bootstrap_method``, ``version``, ``schema_version``, ``cuts_method``.
    """
    cal = ctx.get("calendar") or {}
    hpd = fmt_num(cal.get("hours_per_day", 8), 0 if float(cal.get("hours_per_day", 8)).is_integer() else 1, lang)
    ci = fmt_num(100 * float(ctx.get("ci", 0.95)), 0, lang)
    n_boot = fmt_num(ctx.get("n_boot", 1000), 0, lang)
    cost = ctx.get("cost") or {}
    income = fmt_num(cost.get("hourly_income_vnd", 40000), 0, lang)
    cost_hpd = fmt_num(cost.get("hours_per_day", 8), 0, lang)
    visit = fmt_num(cost.get("visit_hours", 4), 0, lang)
    as_of = str(ctx.get("as_of") or "—")
    cat = bool(ctx.get("catalog"))
    boot = ctx.get("bootstrap_method") or "exact"
    tz = cal.get("tz", "Asia/Ho_Chi_Minh")
    if lang == "vi":
        items = [
            ("data", "Dữ liệu và kiểm soát chất lượng", [
                "Mỗi dòng của tệp nhật ký được dùng hoặc được đếm trong mục Chất lượng dữ liệu theo "
                "lý do (bị loại, được sửa, được đánh dấu); không dòng nào bị bỏ đi mà không được ghi "
                "nhận: số dòng đọc = số dòng dùng + số dòng bị loại. Văn bản được chuẩn hoá Unicode NFC.",
                "Sự kiện của mỗi hồ sơ được sắp theo thời gian (giữ thứ tự trong tệp khi trùng thời "
                "điểm, như pm4py)."]),
            ("calendar", "Lịch làm việc và thời gian làm việc", [
                f"Mọi khoảng thời gian là thời gian làm việc theo lịch «{cal.get('name', 'VN')}»: giờ hành "
                f"chính {_hours(cal)} ({hpd} giờ/ngày làm việc), nghỉ thứ Bảy, Chủ nhật, các ngày lễ, "
                "Tết theo Bộ luật Lao động (kể cả ngày nghỉ bù) và có tính các ngày thứ Bảy làm bù "
                f"theo quyết định của Chính phủ; múi giờ {tz}. Đêm, giờ nghỉ trưa, ngày nghỉ không "
                "được tính.",
                "Mỗi thời điểm được quy đổi một lần ra «giây làm việc» kể từ 01/01/2000; thời lượng là "
                f"phép trừ trên trục này. Một ngày làm việc = {hpd} giờ."]),
            ("segments", "Ai đang giữ hồ sơ", [
                "Mỗi sự kiện (trừ sự kiện đầu) khép lại một đoạn từ lúc kết thúc sự kiện trước đến lúc "
                "kết thúc sự kiện này; khi có thời điểm bắt đầu, đoạn chia thành thời gian chờ (kết "
                "thúc trước → bắt đầu) và thời gian xử lý (bắt đầu → kết thúc).",
                "Đoạn thuộc cơ quan (đơn vị của sự kiện kết thúc đoạn), trừ khi hồ sơ đang ở phía "
                "công dân (từ yêu cầu bổ sung đến khi nhận hồ sơ bổ sung: dừng đồng hồ) hoặc bên thứ "
                "ba (thuế, niêm yết, hội đồng: từ tạm dừng đến tiếp tục)."]),
            ("deadlines", "Thời hạn giải quyết", [
                ("Thời hạn theo quy định lấy từ danh mục thủ tục (số ngày làm việc hoặc ngày, quy trình "
                 "nội bộ với thời gian từng bước). " if cat else
                 "Không có danh mục thủ tục: thời hạn lấy theo ngày hẹn trả trong dữ liệu. ")
                + "Hồ sơ tiếp nhận sau 15 giờ được tính từ ngày làm việc tiếp theo; thời hạn tính bằng "
                "ngày (không phải ngày làm việc) rơi vào ngày nghỉ thì lùi sang ngày làm việc kế tiếp.",
                f"Trạng thái hồ sơ tính đến {as_of}."]),
            ("kpi", "Chỉ tiêu tổng hợp", [
                "Tỷ lệ đúng hạn theo báo cáo = (hồ sơ giải quyết đúng hạn theo ngày hẹn trả + hồ sơ rút) "
                "/ (hồ sơ đã giải quyết + hồ sơ rút), ngày hẹn tính lại sau mỗi lần bổ sung và hồ sơ "
                "không có ngày hẹn được coi là đúng hạn — như hệ thống một cửa đang tính.",
                "Tỷ lệ đúng hạn tính lại = hồ sơ đã giải quyết có thời gian cơ quan thực sự xử lý ≤ thời "
                "hạn theo quy định / hồ sơ đã giải quyết có thời hạn; đồng hồ chỉ dừng khi hồ sơ ở phía "
                "công dân hoặc bên thứ ba và không tính lại từ đầu khi bổ sung. Chênh lệch giữa hai tỷ "
                "lệ là «đồng hồ ẩn».",
                "Điểm Tiến độ giải quyết (QĐ 766/QĐ-TTg, 20 điểm) = (hồ sơ đang giải quyết trong hạn, "
                "kể cả chờ bổ sung/tạm dừng + đã giải quyết đúng hạn + rút + từ chối đúng hạn) / hồ sơ "
                "tiếp nhận × 20.",
                f"Mọi tỷ lệ kèm khoảng tin cậy Wilson {ci}% và mẫu số n; dòng có dưới 30 hồ sơ được "
                "đánh dấu «ít hồ sơ»."]),
            ("map", "Bản đồ quy trình", [
                "Đồ thị trực tiếp-theo-sau (directly-follows): mũi tên A → B đếm số lần bước B đến ngay "
                "sau bước A trong cùng hồ sơ (bằng pm4py.discover_dfg). Bản tần suất ghi số lần chuyển; "
                "bản thời gian ghi thời gian làm việc trung bình của lần chuyển. Màu nút là thời gian "
                "chờ trung bình tại bước; độ dày mũi tên theo số lần chuyển. Phần bị ẩn (nếu có) ghi "
                "trong chú giải."]),
            ("bottlenecks", "Điểm nghẽn", [
                "Chỉ tính các đoạn thuộc cơ quan. Thời gian chờ của một lượt = kết thúc bước trước → "
                "bắt đầu bước này (không có thời điểm bắt đầu: → kết thúc); chờ âm (làm song song) "
                "tính bằng 0. Xếp hạng theo tổng giờ chờ (hồ sơ × giờ): cái được lợi nếu sửa bước đó.",
                f"Khoảng tin cậy {ci}% của thời gian chờ trung bình: bootstrap phân vị theo hồ sơ "
                f"({n_boot} lần lặp, trọng số Poisson, phương pháp «{boot}»; với nhật ký rất lớn, hồ sơ "
                "được gộp ngẫu nhiên thành nhóm).",
                "Gợi ý loại điểm nghẽn: hàng đợi (tương quan Spearman giữa thời gian chờ và tồn đọng ≥ "
                "0,3, p < 0,01), xử lý chậm (xử lý > 50% thời gian giữ hồ sơ), xử lý dồn cục (≥ 30% lượt "
                "hoàn thành cùng phút với ít nhất hai lượt khác, gấp ≥ 3 lần lúc đến), chuyển giao "
                "(> 50% thời gian chờ ở điểm chuyển đơn vị và dài gấp ≥ 2 lần chờ trong đơn vị)."]),
            ("handovers", "Chuyển giao giữa đơn vị", [
                "Một lượt chuyển là sự kiện có đơn vị khác đơn vị của sự kiện trước trong cùng hồ sơ, "
                "trên đoạn thuộc cơ quan. Thời gian chờ tại điểm chuyển = thời gian chờ của sự kiện "
                "đó. Tỷ lệ thời hạn bị tiêu tốn = thời gian chờ / thời hạn theo quy định của hồ sơ "
                "(trung bình trên các lượt có thời hạn)."]),
            ("overdue", "Quy trách nhiệm trễ hạn", [
                "Hồ sơ trễ hạn: thời gian cơ quan thực sự xử lý vượt thời hạn, hoặc đang giải quyết đã "
                "quá hạn. Thời gian mỗi bước dùng trong hồ sơ được so với định mức của bước trong quy "
                "trình nội bộ (hoặc, khi không có, tỷ trọng trung vị của bước × thời hạn). Phần vượt "
                "định mức là lý do trễ; số ngày trễ của hồ sơ được chia cho các bước/đơn vị theo tỷ lệ "
                "phần vượt. Hồ sơ không có bước nào vượt được đếm là «không giải thích được».",
                f"Tỷ lệ trong số hồ sơ trễ hạn kèm khoảng Wilson {ci}%."]),
            ("rework", "Vòng lặp xử lý lại và đồng hồ ẩn", [
                "Vòng lặp: một bước được làm lại trong cùng hồ sơ (xoá vòng theo thứ tự thời gian), "
                "cộng các lần yêu cầu bổ sung; chia theo loại: bổ sung hồ sơ, làm lại ngay một bước, "
                "vòng qua đơn vị khác, vòng trong một đơn vị. Theo edeaR: «repeat» = cùng cán bộ, «redo» "
                "= cán bộ khác. Chi phí của vòng = thời gian làm việc từ lúc phát sinh đến hết phần "
                "việc lặp, chia theo cơ quan / công dân / bên thứ ba.",
                "Đồng hồ ẩn: yêu cầu bổ sung muộn (khi đã dùng ≥ 80% thời hạn), yêu cầu bổ sung quá một "
                "lần, ngày hẹn trả bị dời, hẹn lại quá một lần, tính lại hạn từ đầu khi bổ sung, hồ sơ "
                "trực tuyến do cán bộ nhập tại quầy. Tỷ lệ kèm khoảng Wilson; giá trị trung bình mỗi "
                f"hồ sơ kèm bootstrap theo hồ sơ ({ci}%)."]),
            ("cuts", "Phương án cắt giảm", [
                "Các phương án được đề xuất từ dữ liệu (bỏ bước gần như không mất thời gian, giới hạn "
                "thời gian giữ hồ sơ ở bước chờ lâu, gộp hoặc làm song song hai bước, chuyển giao điện "
                "tử, giảm vòng bổ sung, thêm cán bộ) hoặc đọc từ tệp do người dùng cung cấp.",
                "Động cơ «replay» phát lại từng hồ sơ đã hoàn thành với phương án đã áp dụng, giả định "
                "không có hiệu ứng hàng đợi (hồ sơ khác không nhanh hơn, không chậm hơn) — chính xác "
                "với phương án không làm thay đổi hàng đợi; cảnh báo hàng đợi được bật khi bước bị thay "
                "đổi có dấu hiệu quá tải. Động cơ «simulate» (khi có) mô phỏng hàng đợi của cán bộ với "
                "số ngẫu nhiên chung và kiểm định lại (backtest) trên dữ liệu quan sát.",
                f"Thời gian tiết kiệm trung bình mỗi hồ sơ kèm khoảng tin cậy {ci}% (bootstrap theo hồ "
                "sơ). Ngày-hồ sơ/năm = tiết kiệm trung bình × số hồ sơ/năm (khoảng tin cậy nhân "
                "tương ứng).",
                f"Chi phí tuân thủ theo cách tính của tỉnh: số ngày cắt giảm trong thời hạn × {cost_hpd} "
                f"giờ × {income} đồng/giờ × số hồ sơ/năm. Chi phí đo được: (giờ công dân tiết kiệm + "
                f"số lần đi lại tránh được × {visit} giờ) × {income} đồng/giờ × số hồ sơ/năm. Mục tiêu "
                "của Chính phủ: cắt giảm ít nhất 50% thời gian và 30% chi phí."]),
            ("intervals", "Cách đọc khoảng tin cậy", [
                f"Khoảng tin cậy {ci}% [a; b] là phạm vi mà giá trị thật có khả năng nằm trong, với dữ "
                "liệu đã có. Khoảng rộng nghĩa là có ít hồ sơ hoặc hồ sơ rất khác nhau: chưa đủ căn cứ "
                "để kết luận chắc chắn. Hai chỉ tiêu có khoảng chồng lên nhau nhiều thì chưa chắc khác "
                "nhau. Mỗi con số đều ghi số hồ sơ (n) làm căn cứ."]),
            ("software", "Phần mềm và tham số", [
                f"tthc_mining {ctx.get('version', '?')}; lược đồ JSON phiên bản "
                f"{ctx.get('schema_version', '1.0')}; mức tin cậy {ci}%; {n_boot} lần bootstrap; hạt "
                f"giống ngẫu nhiên {ctx.get('seed', 0)}. Kết quả có thể tái lập với cùng dữ liệu và tham số."]),
        ]
    else:
        items = [
            ("data", "Data and quality accounting", [
                "Every row of the log file is either used or counted in the Data quality section by "
                "reason (dropped, repaired, flagged); nothing is lost silently: rows read = rows used + "
                "rows dropped. Text is normalised to Unicode NFC.",
                "Each dossier's events are sorted by time (file order kept on ties, as pm4py does)."]),
            ("calendar", "Working calendar and working time", [
                f"Every duration is working time under the «{cal.get('name', 'VN')}» calendar: office "
                f"hours {_hours(cal)} ({hpd} h per working day), Saturdays and Sundays off, public "
                "holidays of the Labour Code with their substituted days, and the decreed make-up "
                f"Saturdays; time zone {tz}. Nights, lunch breaks and days off do not count.",
                "Every timestamp is mapped once onto working seconds since 2000-01-01; a duration is a "
                f"subtraction on that axis. One working day = {hpd} hours."]),
            ("segments", "Who holds the dossier", [
                "Every event after a dossier's first closes a segment from the previous event's end to "
                "its own end; with start times the segment splits into waiting (previous end → start) "
                "and processing (start → end).",
                "A segment belongs to the agency (the unit of the event that closes it) unless the "
                "dossier is with the citizen (from a supplement request to the receipt of the "
                "supplement: clock stopped) or with a third party (tax, public posting, councils: from "
                "a suspension to the resumption)."]),
            ("deadlines", "Deadlines", [
                ("Statutory deadlines come from the procedure catalogue (working days or calendar days, "
                 "with the internal procedure's allotment per step). " if cat else
                 "No procedure catalogue: deadlines come from the due dates in the data. ")
                + "A dossier received after 15:00 counts from the next working day; a calendar-day "
                "deadline that falls on a day off moves to the next working day.",
                f"Statuses as of {as_of}."]),
            ("kpi", "Summary KPIs", [
                "Reported on-time rate = (resolved by the due date + withdrawn) / (resolved + "
                "withdrawn), with the due date restarted at each supplement and a missing due date "
                "counted as on time — as one-stop systems compute it.",
                "Recomputed on-time rate = resolved dossiers whose agency working time ≤ the statutory "
                "budget / resolved dossiers with a budget; the clock pauses only while the citizen or "
                "a third party holds the dossier and never restarts. The difference is the «hidden "
                "clock».",
                "766 progress score (QĐ 766/QĐ-TTg, 20 points) = (in progress within time, including "
                "awaiting a supplement or suspended + resolved on time + withdrawn + refused on time) / "
                "received × 20.",
                f"Every rate has a Wilson {ci}% interval and its denominator n; rows with fewer than "
                "30 dossiers are marked «small sample»."]),
            ("map", "Process map", [
                "Directly-follows graph: an arrow A → B counts how often step B directly follows step A "
                "in a dossier (equal to pm4py.discover_dfg). The frequency map labels arrows with "
                "counts, the performance map with the mean working time of the transition. Node colour "
                "is the step's mean waiting time; arrow width follows the count. Anything hidden is "
                "stated in the legend."]),
            ("bottlenecks", "Bottlenecks", [
                "Agency-owned segments only. An event's wait = previous end → its start (without start "
                "times: → its end); negative waits (parallel work) count as 0. Rows are ranked by "
                "total waiting (dossier-hours): what fixing the step would give back.",
                f"{ci}% interval of the mean wait: percentile bootstrap over dossiers ({n_boot} "
                f"replicates, Poisson weights, method «{boot}»; on very large logs dossiers are "
                "resampled in random groups).",
                "Kind hint: queue (Spearman correlation of wait and backlog ≥ 0.3, p < 0.01), slow work "
                "(processing > 50% of held time), batching (≥ 30% of completions in a minute with two "
                "others, ≥ 3 times the arrivals' share), hand-over (> 50% of the waiting at unit "
                "boundaries and ≥ 2 times the waits within a unit)."]),
            ("handovers", "Hand-overs between units", [
                "A transfer is an event whose unit differs from the previous event's unit in the same "
                "dossier, on an agency-owned segment. The waiting at the boundary is that event's wait. "
                "Share of the budget = the wait / the dossier's statutory budget (mean over transfers "
                "with a budget)."]),
            ("overdue", "Overdue attribution", [
                "Overdue dossiers: agency working time over the budget, or still in progress past the "
                "due date. The time each step spent in a dossier is compared with the step's allotment "
                "in the internal procedure (or, without one, the step's median share × the budget). "
                "The excess is what made the dossier late; its days late are shared among steps and "
                "units in proportion to their excess. Dossiers where no step exceeded are "
                "«unexplained».",
                f"Shares of overdue dossiers come with Wilson {ci}% intervals."]),
            ("rework", "Rework loops and the hidden clock", [
                "A loop: a step done again in the same dossier (loop erasure in time order), plus "
                "supplement requests; kinds: supplement, self-loop, across units, within a unit. As in "
                "edeaR: «repeat» = the same officer, «redo» = another one. A loop's cost = the working "
                "time from its trigger to the end of the repeated work, split by agency / citizen / "
                "third party.",
                "Hidden clock: late supplement requests (≥ 80% of the budget used), more than one "
                "request, due date moved, re-appointed more than once, clock restarted at the "
                "supplement, online dossiers keyed in at the desk. Rates with Wilson intervals; means "
                f"per dossier with a dossier bootstrap ({ci}%)."]),
            ("cuts", "Procedure cuts", [
                "Candidates come from the data (remove near-zero steps, cap the holding time of long "
                "waits, merge or parallelise two steps, electronic transfer, fewer supplement loops, "
                "more officers) or from a file the user supplies.",
                "The «replay» engine replays every finished dossier with the cut applied, assuming no "
                "queue effects (other dossiers neither speed up nor slow down) — exact for cuts that do "
                "not change queues; a queue warning is raised when a changed step shows signs of "
                "overload. The «simulate» engine (when installed) simulates officer queues with common "
                "random numbers and is backtested against the observed log.",
                f"Mean saving per dossier with a {ci}% interval (dossier bootstrap). Dossier-days per "
                "year = mean saving × dossiers per year (interval scaled alike).",
                f"Compliance cost, provincial formula: statutory days cut × {cost_hpd} h × {income} VND/h "
                f"× dossiers per year. Measured cost: (citizen hours saved + visits avoided × {visit} h) "
                f"× {income} VND/h × dossiers per year. Government targets: at least 50% of time and "
                "30% of cost."]),
            ("intervals", "How to read a confidence interval", [
                f"A {ci}% interval [a, b] is the range the true value plausibly lies in, given the data. "
                "A wide interval means few dossiers or very different dossiers: not enough evidence "
                "for a firm conclusion. Two figures whose intervals overlap a lot are not clearly "
                "different. Every figure states the number of dossiers (n) behind it."]),
            ("software", "Software and parameters", [
                f"tthc_mining {ctx.get('version', '?')}; JSON schema version "
                f"{ctx.get('schema_version', '1.0')}; confidence level {ci}%; {n_boot} bootstrap "
                f"replicates; random seed {ctx.get('seed', 0)}. Results are reproducible with the same "
                "data and parameters."]),
        ]
    return [{"id": i, "title": title, "text": list(paras)} for i, title, paras in items]
