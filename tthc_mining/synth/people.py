"""Fake personal data for the synthetic province: names, CCCD numbers, phones, e-mails.

Everything is drawn from a NumPy generator, vectorised over dossiers (no per-row Python): the
strings are assembled from small lists of parts with integer codes. The data is *fake*: names are
random combinations of common Vietnamese name parts and the numbers follow the published formats
(a CCCD number is 12 digits: a 3-digit province-of-birth code, a digit for gender and century,
the last two digits of the birth year and 6 random digits; a mobile number is ``0`` + a 2-digit
network prefix + 7 digits) but are otherwise random. They exist so that anonymisation and
personal-data handling (issue 8) can be exercised on realistic columns.
"""
from __future__ import annotations

import unicodedata

import numpy as np

# (surname, relative frequency in %) — the common Vietnamese family names
SURNAMES = (("Nguyễn", 38.0), ("Trần", 11.0), ("Lê", 9.5), ("Phạm", 7.1), ("Hoàng", 5.1),
            ("Huỳnh", 2.0), ("Phan", 4.5), ("Vũ", 3.9), ("Võ", 2.0), ("Đặng", 2.1), ("Bùi", 2.0),
            ("Đỗ", 1.4), ("Hồ", 1.3), ("Ngô", 1.3), ("Dương", 1.0), ("Lý", 0.5), ("Đinh", 0.8),
            ("Trịnh", 0.7), ("Mai", 0.5), ("Lương", 0.5), ("Cao", 0.4), ("Tạ", 0.3))
MIDDLE_M = ("Văn", "Hữu", "Đức", "Minh", "Quang", "Thành", "Công", "Xuân", "Ngọc", "Anh",
            "Trọng", "Duy", "Tiến", "Hoàng", "Mạnh")
MIDDLE_F = ("Thị", "Ngọc", "Thu", "Thanh", "Hồng", "Phương", "Mai", "Thùy", "Kim", "Bích",
            "Minh", "Khánh", "Lan", "Quỳnh", "Diệu")
GIVEN_M = ("An", "Bình", "Cường", "Dũng", "Hải", "Hùng", "Khoa", "Long", "Minh", "Nam", "Phúc",
           "Quân", "Sơn", "Tuấn", "Trung", "Việt", "Hiếu", "Đạt", "Thắng", "Huy", "Khánh",
           "Lâm", "Nghĩa", "Phong", "Quang", "Tài", "Thành", "Toàn", "Vinh", "Đức")
GIVEN_F = ("Anh", "Chi", "Dung", "Hà", "Hạnh", "Hoa", "Hương", "Lan", "Linh", "Mai", "Nga",
           "Ngọc", "Nhung", "Phương", "Thảo", "Trang", "Vân", "Yến", "Hằng", "Thủy", "Giang",
           "Huyền", "Loan", "My", "Oanh", "Quyên", "Tâm", "Thu", "Uyên", "Xuân")

#: mobile prefixes in use (Viettel, VinaPhone, MobiFone, Vietnamobile, Gmobile)
MOBILE_PREFIXES = ("032", "033", "034", "035", "036", "037", "038", "039", "086", "096", "097",
                   "098", "081", "082", "083", "084", "085", "088", "091", "094", "070", "076",
                   "077", "078", "079", "089", "090", "093", "052", "056", "058", "092", "059",
                   "099")
EMAIL_DOMAINS = ("gmail.com", "gmail.com", "gmail.com", "yahoo.com", "outlook.com")


def _nfc(parts) -> np.ndarray:
    return np.array([unicodedata.normalize("NFC", p) for p in parts], dtype=object)


def _ascii(text: str) -> str:
    t = unicodedata.normalize("NFKD", text)
    t = "".join(ch for ch in t if not unicodedata.combining(ch))
    return t.replace("đ", "d").replace("Đ", "D").lower()


def _join(*columns: np.ndarray, sep: str = " ") -> np.ndarray:
    """Element-wise string join of object arrays (vectorised via numpy's string ufuncs)."""
    out = columns[0].astype(str)
    for c in columns[1:]:
        out = np.char.add(np.char.add(out, sep), c.astype(str))
    return out.astype(object)


def full_names(rng: np.random.Generator, n: int, female_share: float = 0.5
               ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` full names ("Họ Đệm Tên") and a boolean array ``female``."""
    sur = _nfc(s for s, _ in SURNAMES)
    w = np.array([f for _, f in SURNAMES], dtype=float)
    female = rng.random(n) < female_share
    s_idx = rng.choice(len(sur), size=n, p=w / w.sum())
    mid = np.where(female, _nfc(MIDDLE_F)[rng.integers(0, len(MIDDLE_F), n)],
                   _nfc(MIDDLE_M)[rng.integers(0, len(MIDDLE_M), n)])
    giv = np.where(female, _nfc(GIVEN_F)[rng.integers(0, len(GIVEN_F), n)],
                   _nfc(GIVEN_M)[rng.integers(0, len(GIVEN_M), n)])
    names = _join(sur[s_idx], mid, giv)
    return names, female


def unique_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` distinct full names (for officers: an officer's name is their id in the log)."""
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        cand, _ = full_names(rng, max(2 * (n - len(out)), 16))
        for c in cand:
            if c not in seen:
                seen.add(c)
                out.append(c)
                if len(out) == n:
                    break
    return np.array(out, dtype=object)


def cccd_numbers(rng: np.random.Generator, female: np.ndarray, birth_year: np.ndarray,
                 home_code: int = 30, home_share: float = 0.85) -> np.ndarray:
    """12-digit citizen-identity (CCCD) numbers as strings, vectorised."""
    n = len(female)
    province = np.where(rng.random(n) < home_share, home_code, rng.integers(1, 97, n))
    century = (birth_year // 100 - 19).clip(0, 4)           # 1900s -> 0, 2000s -> 1
    gender_digit = 2 * century + female.astype(np.int64)
    yy = birth_year % 100
    tail = rng.integers(0, 1_000_000, n)
    num = province.astype(np.int64) * 10**9 + gender_digit * 10**8 + yy * 10**6 + tail
    return np.char.zfill(num.astype(str), 12).astype(object)


def phone_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """Vietnamese mobile numbers ``0[35789]xxxxxxxx`` (10 digits) as strings."""
    pre = np.array(MOBILE_PREFIXES, dtype=object)[rng.integers(0, len(MOBILE_PREFIXES), n)]
    tail = np.char.zfill(rng.integers(0, 10_000_000, n).astype(str), 7)
    return np.char.add(pre.astype(str), tail).astype(object)


def emails(rng: np.random.Generator, names: np.ndarray, share: float = 0.3) -> np.ndarray:
    """Optional e-mail addresses derived from the (ASCII-folded) name; ``None`` for most."""
    n = len(names)
    has = rng.random(n) < share
    out = np.full(n, None, dtype=object)
    if not has.any():
        return out
    uniq, inv = np.unique(names[has].astype(str), return_inverse=True)
    local = np.array([_ascii(u.split()[-1]) + _ascii(u.split()[0]) for u in uniq], dtype=object)[inv]
    digits = rng.integers(10, 2000, has.sum()).astype(str)
    dom = np.array(EMAIL_DOMAINS, dtype=object)[rng.integers(0, len(EMAIL_DOMAINS), has.sum())]
    out[has] = np.char.add(np.char.add(np.char.add(local.astype(str), digits), "@"),
                           dom.astype(str)).astype(object)
    return out


def citizens(rng: np.random.Generator, n: int, *, ref_year: int = 2025, home_code: int = 30,
             email_share: float = 0.3) -> dict[str, np.ndarray]:
    """Applicants (chủ hồ sơ): name, CCCD, phone, optional e-mail, gender and birth year."""
    names, female = full_names(rng, n)
    age = np.clip(rng.normal(41, 13, n), 18, 85).astype(np.int64)
    birth = ref_year - age
    return {"name": names, "cccd": cccd_numbers(rng, female, birth, home_code=home_code),
            "phone": phone_numbers(rng, n), "email": emails(rng, names, email_share),
            "female": female, "birth_year": birth}
