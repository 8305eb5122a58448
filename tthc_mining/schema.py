"""Canonical column names of the event table (XES keys, so a log passes straight to pm4py).

Every module imports these constants instead of spelling the strings again.
"""
from __future__ import annotations

CASE = "case:concept:name"          # dossier id (Mã hồ sơ)
ACTIVITY = "concept:name"           # step (Bước xử lý)
TIMESTAMP = "time:timestamp"        # end/complete time of the event
START = "start_timestamp"           # optional start time of the event
RESOURCE = "org:resource"           # officer (Cán bộ xử lý)
GROUP = "org:group"                 # unit (Đơn vị / phòng ban xử lý)
LIFECYCLE = "lifecycle:transition"  # passed through from XES when present

# case attributes (repeated on every event row, as pm4py expects)
PROCEDURE = "case:procedure"        # Mã TTHC
RECEIVED = "case:received"          # Ngày tiếp nhận
DUE = "case:due"                    # Ngày hẹn trả
CHANNEL = "case:channel"            # Kênh nộp: direct / online / post
STATUS = "case:status"              # Trạng thái hồ sơ (as exported)
PROCEDURE_NAME = "case:procedure_name"  # Tên thủ tục, when a code column (Mã TTHC) also exists

# event attributes added by the library
ROLE = "tm:role"                    # activity role (see ROLES)
ROW = "tm:row"                      # 1-based row number in the source file (data rows)
INJECTED = "tm:injected"            # row looks injected by a sync job (flagged, not dropped)
REASON = "tm:reason"                # reason / comment text when the log has one
DUE_BEFORE = "case:due_before"      # NgayHenTraTruoc (due date before a re-appointment)
DUE_AFTER = "case:due_after"        # NgayHenTraMoi (due date after a re-appointment)
SUBMITTED = "case:submitted"        # NgayNopHoSo (online submission time)
FINISHED_REPORTED = "case:finished" # NgayKetThucXuLy as exported (end of processing)

# personal data of the applicant (chủ hồ sơ), when a log carries it (issue 8)
OWNER_NAME = "case:owner_name"      # Chủ hồ sơ
OWNER_ID = "case:owner_id"          # Số CCCD (12 digits)
OWNER_PHONE = "case:owner_phone"    # Số điện thoại
OWNER_EMAIL = "case:owner_email"    # Email
PERSONAL_COLUMNS = (OWNER_NAME, OWNER_ID, OWNER_PHONE, OWNER_EMAIL)

CASE_ATTRIBUTES = (PROCEDURE, RECEIVED, DUE, CHANNEL, STATUS, DUE_BEFORE, DUE_AFTER,
                   SUBMITTED, FINISHED_REPORTED)
TIME_COLUMNS = (TIMESTAMP, START, RECEIVED, DUE, DUE_BEFORE, DUE_AFTER, SUBMITTED,
                FINISHED_REPORTED)
REQUIRED = (CASE, ACTIVITY, TIMESTAMP)

# Activity roles: what an event means for the statutory clock.
ROLE_RECEIPT = "receipt"                       # tiếp nhận hồ sơ
ROLE_SUPPLEMENT_REQUEST = "supplement_request" # yêu cầu bổ sung (clock stops: citizen holds it)
ROLE_SUPPLEMENT_RECEIVED = "supplement_received"  # nhận hồ sơ bổ sung (clock resumes)
ROLE_SUSPENDED = "suspended"                   # tạm dừng (tax, verification, ...)
ROLE_RESUMED = "resumed"                       # tiếp tục xử lý
ROLE_RESULT = "result_returned"                # trả kết quả
ROLE_FINISHED = "processing_finished"          # kết thúc xử lý (result ready at one-stop)
ROLE_WITHDRAWN = "withdrawn"                   # công dân rút hồ sơ
ROLE_REFUSED = "refused"                       # từ chối / không tiếp nhận
ROLE_REAPPOINTED = "reappointed"               # xin lỗi, hẹn lại ngày trả
ROLE_WORK = "work"                             # ordinary agency step
ROLES = (ROLE_RECEIPT, ROLE_SUPPLEMENT_REQUEST, ROLE_SUPPLEMENT_RECEIVED, ROLE_SUSPENDED,
         ROLE_RESUMED, ROLE_RESULT, ROLE_FINISHED, ROLE_WITHDRAWN, ROLE_REFUSED,
         ROLE_REAPPOINTED, ROLE_WORK)

# Channels (KenhThucHien 1/2/3)
CHANNEL_DIRECT = "direct"
CHANNEL_ONLINE = "online"
CHANNEL_POST = "post"

DEFAULT_TZ = "Asia/Ho_Chi_Minh"
