"""Process-map rendering (ProcessMap.render / tthc_mining.render).

The SVG is parsed as XML: every activity label must appear as text (Vietnamese diacritics kept,
an activity named <script> only as escaped text), the legend must explain colours and what was
hidden, and without the graphviz program DOT still works while SVG/PNG raise
MissingProgramError naming 'dot'.
"""
from __future__ import annotations

import re
import shutil
import unicodedata

import defusedxml.ElementTree as ET
import numpy as np
import pandas as pd
import pytest

import tthc_mining as tm
from tthc_mining import DossierLog
from tthc_mining import render as R
from tthc_mining import schema as S
from tthc_mining.errors import ConfigError, MissingProgramError

needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="graphviz 'dot' program not installed")
TZ = "Asia/Ho_Chi_Minh"
SVG_NS = "{http://www.w3.org/2000/svg}"

ACTS = ["Tiếp nhận hồ sơ", "Thẩm định hồ sơ", "<script>alert('x')</script>",
        'Trả kết quả & "lưu"', "Phê duyệt"]
UNITS = ["Bộ phận Một cửa", "Phòng Tài nguyên", "Lãnh đạo <UBND>", "Bộ phận Một cửa", "Lãnh đạo <UBND>"]


@pytest.fixture(scope="module")
def pm():
    rng = np.random.default_rng(1)
    rows = []
    t0 = pd.Timestamp("2025-03-03 08:00", tz=TZ)
    for c in range(60):
        seq = [0, 1, 4, 3] if c % 3 else [0, 1, 1, 2, 4, 3]
        if c == 59:
            seq = [0, 2, 3]  # a rare path, hidden by min_share
        t = t0 + pd.Timedelta(days=int(c // 5))
        for a in seq:
            t = t + pd.Timedelta(minutes=int(rng.integers(10, 600)))
            rows.append({S.CASE: f"HS{c:03d}", S.ACTIVITY: ACTS[a], S.TIMESTAMP: t,
                         S.GROUP: UNITS[a]})
    ev = pd.DataFrame(rows).sort_values([S.CASE, S.TIMESTAMP], kind="stable").reset_index(drop=True)
    return tm.discover(DossierLog(events=ev))


def svg_texts(svg: str) -> list[str]:
    root = ET.fromstring(svg.encode("utf-8"))
    assert not [el for el in root.iter() if el.tag.lower().endswith("script")]
    return ["".join(el.itertext()) for el in root.iter(f"{SVG_NS}text")]


@needs_dot
@pytest.mark.parametrize("kind", ["frequency", "performance"])
def test_svg_has_every_label_escaped(pm, kind):
    svg = pm.render(kind=kind, format="svg", lang="vi")
    assert svg.lstrip().startswith("<?xml") or "<svg" in svg[:500]
    texts = svg_texts(svg)
    joined = "\n".join(texts)
    for a in ACTS:
        assert a in texts, (a, texts)  # whole label as one text element
        assert unicodedata.is_normalized("NFC", a)
    assert "<script" not in svg and "&lt;script&gt;" in svg
    assert "Bắt đầu" in texts and "Kết thúc" in texts
    assert "Chú giải" in texts
    if kind == "performance":
        assert re.search(r"\d+(,\d)? (giờ|phút|ngày LV)", joined)
        assert any(t.startswith("chờ TB") for t in texts)
    else:
        assert any(t.endswith(" lần") for t in texts)


@needs_dot
def test_english_labels_and_png(pm, tmp_path):
    svg = pm.render(kind="performance", lang="en")
    texts = svg_texts(svg)
    assert "Start" in texts and "End" in texts and "Legend" in texts
    assert any("mean waiting time" in t for t in texts)
    png = pm.render(format="png", lang="en", path=tmp_path / "map.png")
    assert isinstance(png, bytes) and png[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "map.png").read_bytes() == png
    pm.render(format="svg", path=tmp_path / "map.svg")
    assert "<svg" in (tmp_path / "map.svg").read_text(encoding="utf-8")


def test_dot_source_structure(pm):
    dot = pm.render(format="dot")
    assert dot == pm.to_dot()
    # node fill from the colour scale, darker for longer mean waits
    fills = dict(re.findall(r'(a\d+) \[label=<<B>.*?fillcolor="(#[0-9a-f]{6})"', dot))
    acts = pm.activities.reset_index(drop=True)
    waits = acts["wait_mean_h"].to_numpy()
    order = np.argsort(waits)
    pal = [R.PALETTE.index(fills[f"a{i}"]) if fills[f"a{i}"] in R.PALETTE else -1
           for i in range(len(acts))]
    finite = [i for i in order if np.isfinite(waits[i])]
    assert [pal[i] for i in finite] == sorted(pal[i] for i in finite)
    first = acts.index[~np.isfinite(waits)]
    assert all(fills[f"a{i}"] == R.NO_WAIT_FILL for i in first)
    # edge width grows with frequency
    widths = {}
    for a, b, w in re.findall(r"(a\d+) -> (a\d+) \[label=\S+ penwidth=([\d.]+)", dot):
        widths[(a, b)] = float(w)
    ids = {name: f"a{i}" for i, name in enumerate(acts["activity"])}
    cnt = {(ids[s], ids[t]): c for s, t, c in pm.dfg[["source", "target", "count"]].itertuples(index=False)}
    pairs = sorted(widths, key=lambda k: cnt[k])
    assert [widths[k] for k in pairs] == sorted(widths[k] for k in pairs)
    assert len(widths) == len(pm.dfg)
    # data never appears unescaped in DOT either
    assert "<script>" not in dot and "&lt;script&gt;" in dot


def test_clusters_highlight_and_hidden_notes(pm):
    dot = pm.to_dot(clusters="unit", highlight_edges={(ACTS[1], ACTS[1])},
                    highlight_color="#ff00ff", highlight_label="vòng làm lại")
    assert dot.count("subgraph cluster_u") == 3
    assert "<I>Lãnh đạo &lt;UBND&gt;</I>" in dot
    ids = {name: f"a{i}" for i, name in enumerate(pm.activities["activity"])}
    loop = re.search(rf"{ids[ACTS[1]]} -> {ids[ACTS[1]]} \[([^\]]*)\]", dot).group(1)
    assert 'color="#ff00ff"' in loop
    other = re.search(rf"{ids[ACTS[0]]} -> {ids[ACTS[1]]} \[([^\]]*)\]", dot).group(1)
    assert "#ff00ff" not in other
    assert "Mũi tên màu #ff00ff: vòng làm lại" in dot
    assert "Không ẩn gì" in dot
    hidden = pm.to_dot(min_share=0.02)
    n_low = int((pm.dfg["share"] < 0.02).sum())
    assert n_low > 0
    assert f"Đã ẩn {n_low} mũi tên dưới 2%" in hidden
    assert hidden.count(" -> a") < dot.count(" -> a")
    filtered = tm.discover(pm._log, min_share=0.02, top_variants=2)
    d = filtered.to_dot(lang="en")
    assert "Only the 2 most frequent variants drawn" in d and "Hidden: " in d
    with pytest.raises(ConfigError):
        pm.to_dot(clusters="officer")
    with pytest.raises(ConfigError):
        pm.to_dot(highlight_color='red" onload="x')


def test_clusters_need_units():
    ev = pd.DataFrame({S.CASE: ["a", "a"], S.ACTIVITY: ["X", "Y"],
                       S.TIMESTAMP: pd.to_datetime(["2025-03-03 08:00", "2025-03-03 09:00"]).tz_localize(TZ)})
    p = tm.discover(DossierLog(events=ev))
    with pytest.raises(ConfigError, match="org:group"):
        p.to_dot(clusters="unit")


def test_bad_options(pm):
    for kw in ({"kind": "speed"}, {"format": "jpg"}, {"lang": "fr"}, {"min_share": 2}):
        with pytest.raises(ConfigError):
            pm.render(**kw)


def test_without_dot_program(pm, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert shutil.which("dot") is None
    dot = pm.render(format="dot")
    assert dot.startswith("digraph")
    for fmt in ("svg", "png"):
        with pytest.raises(MissingProgramError, match="'dot'"):
            pm.render(format=fmt)
    assert pm._repr_svg_() is None
    assert "<table" in pm._repr_html_()


@needs_dot
def test_jupyter_shows_the_svg(pm):
    svg = pm._repr_svg_()
    assert svg is not None and "<svg" in svg
    html = pm._repr_html_()
    assert html.startswith("<svg")


@needs_dot
def test_empty_map_renders():
    ev = pd.DataFrame({S.CASE: pd.Series([], dtype=object), S.ACTIVITY: pd.Series([], dtype=object),
                       S.TIMESTAMP: pd.Series([], dtype="datetime64[ns, UTC]")})
    svg = tm.discover(DossierLog(events=ev)).render()
    assert "Không có dữ liệu" in svg_texts(svg)


def test_number_and_duration_formats():
    assert R._num(1234567, "vi") == "1.234.567" and R._num(1234567, "en") == "1,234,567"
    assert R._num(2.25, "vi", 1) in ("2,2", "2,3")
    assert R._dur(0.5, "vi", 8, False) == "30 phút"
    assert R._dur(3.25, "en", 8, False) == "3.2 h" or R._dur(3.25, "en", 8, False) == "3.3 h"
    assert R._dur(16, "vi", 8, False) == "2,0 ngày LV"
    assert R._dur(48, "en", 24, True) == "2.0 d"
    assert R._dur(float("nan"), "vi", 8, False) == "–"
    assert R._dur(10 / 3600, "en", 8, False) == "10 s"
    assert R.escape_html("a<b>&\"'") == "a&lt;b&gt;&amp;&quot;&#39;"
    # NFD input comes out NFC
    assert R.escape_html(unicodedata.normalize("NFD", "Hồ sơ")) == "Hồ sơ"


def test_colour_classes():
    cls, bounds, cols = R.colour_classes(np.array([np.nan, 1.0, 5.0, 2.0, 100.0, 7.0]))
    assert cls[0] == -1 and len(bounds) == len(cols) >= 2
    fin = cls[1:]
    vals = np.array([1.0, 5.0, 2.0, 100.0, 7.0])
    assert list(fin[np.argsort(vals)]) == sorted(fin)
    assert bounds[0][0] == 1.0 and bounds[-1][1] == 100.0
    one = R.colour_classes(np.array([3.0, 3.0]))
    assert list(one[0]) == [0, 0] and len(one[2]) == 1
    none = R.colour_classes(np.array([np.nan]))
    assert list(none[0]) == [-1] and none[1] == []


def test_petri_net_dot_escapes_labels():
    from pm4py.objects.petri_net.obj import Marking, PetriNet
    from pm4py.objects.petri_net.utils.petri_utils import add_arc_from_to

    net = PetriNet("n")
    p0, p1 = PetriNet.Place("p0"), PetriNet.Place("p1")
    t = PetriNet.Transition("t", "<script>Đóng dấu</script>")
    tau = PetriNet.Transition("tau", None)
    for x in (p0, p1):
        net.places.add(x)
    for x in (t, tau):
        net.transitions.add(x)
    add_arc_from_to(p0, t, net)
    add_arc_from_to(t, p1, net)
    add_arc_from_to(p1, tau, net)
    add_arc_from_to(tau, p0, net)
    dot = R.petri_net_dot(net, Marking({p0: 1}), Marking({p1: 1}), title="<b>")
    assert "<script>" not in dot and "&lt;script&gt;Đóng dấu&lt;/script&gt;" in dot
    assert "&lt;b&gt;" in dot and "doublecircle" in dot and "●" in dot
    if shutil.which("dot"):
        texts = svg_texts(R.pipe(dot, "svg").decode("utf-8"))
        assert "<script>Đóng dấu</script>" in texts
