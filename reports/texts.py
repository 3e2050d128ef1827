"""The words of the reports, in Bahasa Indonesia and English, side by side.

A report is short and its sentences carry numbers, so the texts live here as pairs rather than
in a gettext catalogue: a translator sees both versions of a sentence together, and a missing
English text is impossible by construction. Texts are plain (no markup); templates escape them
like any other value. Placeholders use :meth:`str.format` names.
"""

from __future__ import annotations

from typing import Any

from .model import Lang

__all__ = ["TEXTS", "Texts"]

# key -> (Bahasa Indonesia, English)
TEXTS: dict[str, tuple[str, str]] = {
    # --- every document -------------------------------------------------------------------
    "doc.simulated": ("DATA SIMULASI", "SIMULATED DATA"),
    "doc.simulated_note": (
        "Laporan ini dibuat dari data simulasi untuk demonstrasi. Angka-angkanya tidak "
        "menggambarkan pelayanan yang sebenarnya.",
        "This report is built from simulated data for a demonstration. Its figures do not "
        "describe any real service.",
    ),
    "footer.data": (
        "Data per {taken} · {counted} respons dihitung",
        "Data as of {taken} · {counted} responses counted",
    ),
    "footer.page": ("Halaman", "Page"),
    "footer.of": ("dari", "of"),
    "basis": (
        "Dihitung sesuai PermenPANRB No. 14 Tahun 2017 tentang Pedoman Penyusunan Survei "
        "Kepuasan Masyarakat.",
        "Computed as PermenPANRB No. 14/2017 on public satisfaction surveys prescribes.",
    ),
    "yes": ("ya", "yes"),
    "no": ("tidak", "no"),
    "none": ("tidak ada", "none"),
    "and": ("dan", "and"),
    # --- cover ----------------------------------------------------------------------------
    "ranking.kind": ("Laporan Indeks Kepuasan Masyarakat", "Public Satisfaction Index Report"),
    "ranking.subtitle": (
        "Skor dan peringkat OPD, beserta seberapa pasti keduanya",
        "OPD scores and ranks, and how sure each of them is",
    ),
    "cover.evaluator": ("Penyelenggara survei", "Survey run by"),
    "cover.logo_alt": ("Logo {name}", "Logo of {name}"),
    "cover.period": ("Periode survei", "Survey period"),
    "cover.taken": ("Data diambil", "Data taken"),
    "cover.opds": ("OPD yang dinilai", "OPDs rated"),
    "cover.responses": ("Respons dihitung", "Responses counted"),
    "cover.flagged": ("Respons ditandai (tidak dihitung)", "Responses flagged (excluded)"),
    "cover.scheme": ("Skema kategori", "Category scheme"),
    "cover.contents": ("Isi laporan", "Contents"),
    # --- summary --------------------------------------------------------------------------
    "summary.title": ("Ringkasan", "Summary"),
    "summary.coverage": (
        "Survei ini menilai {opds} OPD berdasarkan {counted} respons warga yang dihitung.",
        "This survey rates {opds} {opd_word} on {counted} counted responses from citizens.",
    ),
    "summary.flagged": (
        "{flagged} respons lain ditandai (misalnya dikirim berulang dari perangkat yang sama) "
        "dan tidak dihitung; rinciannya ada di Lampiran.",
        "{flagged} further responses were flagged (for example sent repeatedly from one "
        "device) and excluded; the appendix lists why.",
    ),
    "summary.flagged_none": (
        "Tidak ada respons yang ditandai atau dikeluarkan.",
        "No response was flagged or excluded.",
    ),
    "summary.unscored": (
        "{count} OPD belum memiliki respons sehingga tidak dinilai: {names}.",
        "{count} {opd_word} had no response and could not be rated: {names}.",
    ),
    "summary.small": (
        "{count} OPD memiliki kurang dari {min} respons terhitung sehingga belum cukup data "
        "untuk diberi peringkat atau kategori: {names}. Mereka tidak ikut dalam perhitungan "
        "peringkat OPD lain.",
        "{count} {opd_word} had fewer than {min} counted responses, not enough data to be "
        "ranked or given a category: {names}. They take no part in the other OPDs' ranks.",
    ),
    "small": ("belum cukup data", "not enough data"),
    "opd.small_public": (
        "OPD ini memiliki {n} respons terhitung, kurang dari minimum {min} untuk peringkat: "
        "belum cukup data. OPD ini tidak diberi peringkat atau kategori.",
        "This OPD has {n} counted responses, fewer than the minimum of {min} for ranking: not "
        "enough data. It has no rank and no category.",
    ),
    "opd.small_head": (
        "Sampel kecil: hanya {n} respons terhitung (minimum untuk peringkat {min}). Skor "
        "{score} dengan interval 95% {low}–{high} sangat tidak pasti; OPD ini tidak diberi "
        "peringkat atau kategori di halaman publik. Kumpulkan lebih banyak respons.",
        "Small sample: only {n} counted responses (the minimum for ranking is {min}). The "
        "score {score} with its 95% interval {low}–{high} is very uncertain; the public pages "
        "give this OPD no rank and no category. Collect more responses.",
    ),
    "small.row": (
        "belum cukup data: kurang dari {min} respons, tanpa peringkat dan kategori",
        "not enough data: fewer than {min} responses, no rank and no category",
    ),
    "summary.categories": ("Menurut skema {scheme}:", "Under the {scheme} scheme:"),
    "summary.category_line": (
        "{count} OPD ({pct}) kategori {label} ({code})",
        "{count} {opd_word} ({pct}) in category {label} ({code})",
    ),
    # The model's count of OPDs truly in a category, after the observed count: a count of
    # estimates says more than the data when the intervals cross the bounds.
    "summary.category_model": (
        "; yang sebenarnya di kategori ini menurut model: {expected} OPD (95%: {low}–{high})",
        "; truly in this category by the model: {expected} (95%: {low}–{high})",
    ),
    "summary.mean": (
        "Rata-rata IKM seluruh OPD (setiap OPD berbobot sama): IKM {ikm} (nilai konversi {conv}).",
        "Average IKM of all OPDs (each OPD weighted equally): IKM {ikm} (converted score {conv}).",
    ),
    "summary.best": ("{k} OPD dengan skor tertinggi", "The {k} OPDs with the highest scores"),
    "summary.worst": ("{k} OPD dengan skor terendah", "The {k} OPDs with the lowest scores"),
    "summary.sets_legend": (
        "Kolom terakhir: pasti = dengan keyakinan 95% termasuk {k} terbaik (atau terendah); "
        "mungkin = termasuk himpunan keyakinan 95%, tetapi data belum dapat memastikannya; "
        "tidak = dengan keyakinan 95% tidak termasuk. * = kurang dari {small} responden.",
        "Last column: surely = among the {k} best (or lowest) with 95% confidence; possibly = "
        "in the 95% confidence set, but the data cannot tell for sure; no = not among them, "
        "with 95% confidence. * = fewer than {small} respondents.",
    ),
    "certainty.title": ("Seberapa pasti peringkat ini?", "How sure is this ranking?"),
    "certainty.intro": (
        "Skor setiap OPD dihitung dari sebagian warga yang dilayani, bukan dari semuanya. "
        "Karena itu setiap skor mengandung ketidakpastian: bila survei diulang dengan warga "
        "lain, skornya akan sedikit berbeda, dan urutan OPD yang skornya berdekatan bisa "
        "berubah.",
        "Each OPD's score comes from some of the citizens it served, not all of them. So every "
        "score is uncertain: had other citizens answered, the scores would differ a little, "
        "and OPDs with close scores could swap places.",
    ),
    "certainty.top_sure": (
        "Data ini cukup kuat untuk menunjuk {k} OPD terbaik dengan keyakinan 95%: {names}.",
        "The data are strong enough to name the best {k} with 95% confidence: {names}.",
    ),
    "certainty.top_unsure": (
        "Data ini belum cukup untuk memastikan {k} OPD terbaik. Dengan keyakinan 95%, {k} OPD "
        "terbaik yang sebenarnya berada di antara {size} OPD (ditandai ▲ di tabel lengkap), "
        "bukan hanya {k} OPD teratas dalam tabel.",
        "The data cannot tell which are the best {k}. With 95% confidence, the true best {k} "
        "are among {size} OPDs (marked ▲ in the full table), not just the top {k} of the table.",
    ),
    "certainty.top_all": (
        "Data ini sama sekali tidak dapat menunjuk {k} OPD terbaik: setiap OPD yang dinilai "
        "bisa saja termasuk {k} terbaik.",
        "The data cannot name the best {k} at all: every OPD rated could be among them.",
    ),
    "certainty.top_surely": (
        "Yang sudah pasti termasuk {k} terbaik: {names}.",
        "Surely among the best {k}: {names}.",
    ),
    "certainty.top_none_sure": (
        "Tidak ada satu OPD pun yang pasti termasuk {k} terbaik.",
        "No OPD is surely among the best {k}.",
    ),
    "certainty.bottom_sure": (
        "Untuk {k} OPD terendah, data ini cukup kuat (keyakinan 95%): {names}.",
        "For the lowest {k}, the data are strong enough (95% confidence): {names}.",
    ),
    "certainty.bottom_unsure": (
        "Untuk {k} OPD terendah: dengan keyakinan 95%, mereka berada di antara {size} OPD "
        "(ditandai ▼).",
        "As for the lowest {k}: with 95% confidence they are among {size} OPDs (marked ▼).",
    ),
    "certainty.bottom_all": (
        "Untuk {k} OPD terendah pun data ini tidak dapat memilih: setiap OPD bisa termasuk.",
        "Nor can the data pick the lowest {k}: every OPD could be among them.",
    ),
    "certainty.bottom_surely": (
        "Yang sudah pasti termasuk {k} terendah: {names}.",
        "Surely among the lowest {k}: {names}.",
    ),
    "certainty.bottom_none_sure": (
        "Tidak ada OPD yang pasti termasuk {k} terendah.",
        "No OPD is surely among the lowest {k}.",
    ),
    "certainty.width": (
        "Rata-rata, rentang peringkat satu OPD mencakup {width} dari {count} posisi.",
        "On average an OPD's rank range spans {width} of {count} places.",
    ),
    "certainty.crossing": (
        "Bagi {crossing} dari {count} OPD, rentang skornya melewati batas kategori, sehingga "
        "kategorinya pun belum pasti.",
        "For {crossing} of {count} OPDs the score interval crosses a category boundary, so "
        "even the category is not certain.",
    ),
    "certainty.crossing_none": (
        "Rentang skor setiap OPD berada di dalam satu kategori, sehingga kategori setiap OPD "
        "berlaku dengan keyakinan 95% (untuk masing-masing OPD).",
        "Every OPD's score interval lies within one category, so each OPD's category holds "
        "with 95% confidence (OPD by OPD).",
    ),
    "certainty.funnel": (
        "{count} OPD berbeda nyata dari rata-rata IKM seluruh OPD ({mean}): {names}. Artinya, "
        "skornya berada di luar batas diagram corong yang sudah dikoreksi untuk {p} OPD yang "
        "dibandingkan sekaligus (Bonferroni, z = {z}), dan rentang peringkatnya sejalan dengan "
        "itu.",
        "{count} {opd_word} differ clearly from the average IKM of all OPDs ({mean}): {names}. "
        "That is, their scores lie outside the funnel limits corrected for the {p} OPDs "
        "compared at once (Bonferroni, z = {z}), and their rank ranges agree.",
    ),
    "certainty.funnel_none": (
        "Tidak ada OPD yang berbeda nyata dari rata-rata IKM seluruh OPD ({mean}) setelah "
        "dikoreksi untuk {p} OPD yang dibandingkan sekaligus (Bonferroni, z = {z}).",
        "No OPD differs clearly from the average IKM of all OPDs ({mean}) once corrected for "
        "the {p} OPDs compared at once (Bonferroni, z = {z}).",
    ),
    "certainty.funnel_raw": (
        "{raw} OPD berada di luar batas 95% diagram corong. Batas itu berlaku untuk satu OPD "
        "saja: dengan {p} OPD, sekitar {expected} OPD bisa berada di luarnya karena kebetulan, "
        "sehingga posisi di luar batas 95% saja belum berarti berbeda nyata.",
        "{raw} {opd_word} lie outside the funnel plot's 95% limits. Those limits hold for one "
        "OPD alone: with {p} OPDs, about {expected} can lie outside them by chance, so lying "
        "outside the 95% limits does not by itself mean a clear difference.",
    ),
    "certainty.advice": (
        "Karena itu, sebaiknya laporkan OPD menurut kelompok dan kategori, bukan menurut urutan "
        "persis. Untuk membedakan OPD dengan lebih pasti, dibutuhkan lebih banyak responden "
        "per OPD (lihat margin galat di Lampiran).",
        "Report the OPDs by group and category rather than by exact position. Telling them "
        "apart more surely needs more respondents per OPD (see the margins of error in the "
        "appendix).",
    ),
    # --- tables ---------------------------------------------------------------------------
    "col.rank": ("Peringkat", "Rank"),
    "col.rank_set": ("Rentang peringkat 95% (simultan)", "95% rank range (simultaneous)"),
    "col.opd": ("OPD", "OPD"),
    "col.n": ("n", "n"),
    "col.ikm": ("IKM (1–4)", "IKM (1–4)"),
    "col.conv": ("Nilai (25–100)", "Score (25–100)"),
    "col.interval": ("Interval 95%", "95% interval"),
    "col.category": ("Kategori", "Category"),
    "col.in_top": ("Termasuk {k} terbaik?", "Among the {k} best?"),
    "col.in_bottom": ("Termasuk {k} terendah?", "Among the {k} lowest?"),
    "col.sets": ("Bisa terbaik / terendah", "May be best / lowest"),
    "col.funnel": ("Beda nyata", "Clear difference"),
    "col.shrunken": ("Skor disesuaikan", "Adjusted score"),
    "set.sure": ("pasti", "surely"),
    "set.maybe": ("mungkin", "possibly"),
    "set.no": ("tidak", "no"),
    "funnel.above": ("atas", "above"),
    "funnel.below": ("bawah", "below"),
    "unscored": ("belum ada respons", "no responses"),
    "full.title": ("Tabel lengkap semua OPD", "All OPDs"),
    "full.note": (
        "Diurutkan menurut skor (interval dan nilai pada skala 25–100). Bisa terbaik / "
        "terendah: ▲ = termasuk himpunan keyakinan 95% untuk {k} terbaik; ▼ = untuk {k} "
        "terendah. Beda nyata: atas / bawah = berbeda nyata di atas / di bawah rata-rata IKM "
        "seluruh OPD, di luar batas diagram corong yang dikoreksi untuk semua OPD sekaligus "
        "(Bonferroni) dan sejalan dengan rentang peringkatnya. Skor disesuaikan (Bayes "
        "empiris): skor yang ditarik ke arah rata-rata sebanyak ketidakpastiannya, berguna "
        "untuk OPD dengan sedikit responden; ditampilkan di samping skor asli, bukan "
        "penggantinya. * = kurang dari {small} responden: perkiraan belum andal.",
        "Sorted by score (intervals and scores on 25–100). May be best / lowest: ▲ = in the "
        "95% confidence set for the {k} best; ▼ = for the {k} lowest. Clear difference: "
        "above / below = clearly above / below the average IKM of all OPDs, outside the "
        "funnel plot's limits corrected for all OPDs at once (Bonferroni) and in agreement "
        "with the rank range. "
        "Adjusted score (empirical Bayes): the score pulled towards the average by as much as "
        "it is uncertain, useful for OPDs with few respondents; shown beside the raw score, "
        "never instead of it. * = fewer than {small} respondents: not yet a reliable estimate.",
    ),
    # --- charts ---------------------------------------------------------------------------
    "charts.title": ("Grafik", "Charts"),
    "chart.caterpillar.title": (
        "Skor setiap OPD dengan intervalnya",
        "Each OPD's score with its interval",
    ),
    "chart.caterpillar.caption": (
        "Titik = skor OPD; garis = interval 95%, rentang tempat skor sebenarnya berada dengan "
        "keyakinan 95%. Latar berwarna = kategori. Garis titik-titik tegak = rata-rata "
        "IKM seluruh OPD. Interval yang bertumpang tindih belum berarti kedua OPD tidak "
        "berbeda: selisih dua skor bisa nyata walaupun intervalnya sedikit bertumpang tindih. "
        "Untuk urutan OPD, lihat rentang peringkat 95% (simultan).",
        "Dot = the OPD's score; line = its 95% interval, the range that holds the true score "
        "with 95% confidence. Background = category. Dotted vertical line = the average IKM of "
        "all OPDs. Overlapping intervals do not mean that two OPDs do not differ: the "
        "difference of two scores can be significant although their intervals overlap a "
        "little. For the order of the OPDs, see the simultaneous 95% rank ranges.",
    ),
    "chart.caterpillar.x": ("Nilai IKM (skala 25–100)", "IKM score (scale 25–100)"),
    "chart.caterpillar.legend_point": ("skor dan interval 95%", "score and 95% interval"),
    "chart.legend_mean": ("rata-rata IKM seluruh OPD", "average IKM of all OPDs"),
    "chart.legend_unreliable": ("kurang dari 15 responden", "fewer than 15 respondents"),
    "chart.rank.title": ("Peringkat dan rentang peringkatnya", "Ranks and their ranges"),
    "chart.rank.caption": (
        "Garis tegak = peringkat menurut skor; batang = semua peringkat yang masih mungkin "
        "(keyakinan 95% untuk semua OPD sekaligus). OPD yang batangnya seluruhnya berada di "
        "zona {k} terbaik pasti termasuk {k} terbaik; batang yang panjang berarti peringkatnya "
        "belum pasti.",
        "Tick = rank by score; bar = every rank still possible (95% confidence for all OPDs at "
        "once). An OPD whose bar lies wholly inside the {k}-best zone is surely among the {k} "
        "best; a long bar means its rank is far from certain.",
    ),
    "chart.rank.x": ("Peringkat (1 = terbaik)", "Rank (1 = best)"),
    "chart.rank.top_zone": ("{k} terbaik", "{k} best"),
    "chart.rank.bottom_zone": ("{k} terendah", "{k} lowest"),
    "chart.rank.legend_set": (
        "rentang peringkat 95% (simultan)",
        "95% rank range (simultaneous)",
    ),
    "chart.rank.legend_rank": ("peringkat menurut skor", "rank by score"),
    "chart.funnel.title": (
        "Diagram corong: OPD mana yang benar-benar berbeda?",
        "Funnel plot: which OPDs really differ?",
    ),
    "chart.funnel.caption": (
        "Setiap titik adalah satu OPD. Makin teliti skornya, makin sempit corongnya. Garis "
        "tengah = rata-rata IKM seluruh OPD. Batas 95% (garis putus-putus) dan 99,8% (garis "
        "penuh) berlaku untuk satu OPD saja: walaupun tidak ada OPD yang menyimpang dari "
        "keragaman biasa antar-OPD, sekitar 5% dan 0,2% OPD tetap akan berada di luarnya "
        "karena kebetulan. Karena itu "
        "laporan ini menyebut OPD berbeda nyata hanya bila berada di luar batas yang dikoreksi "
        "untuk semua OPD sekaligus (Bonferroni, lihat Lampiran). Sumbu datar menunjukkan "
        "ketelitian skor sebagai jumlah responden "
        "setara: biasanya dekat dengan jumlah responden sebenarnya, lebih besar bila jawaban "
        "warga di OPD itu seragam, lebih kecil bila beragam.",
        "Each dot is one OPD. The more precise its score, the narrower the funnel. Centre "
        "line = the average IKM of all OPDs. The 95% (dashed) and 99.8% (solid) limits hold "
        "for one OPD alone: even if no OPD stood out from the usual spread between OPDs, "
        "about 5% and 0.2% of the OPDs "
        "would lie outside them by chance. So this report calls an OPD clearly different only "
        "outside the limits corrected for all OPDs at once (Bonferroni, see the appendix). "
        "The horizontal "
        "axis shows the score's precision as equivalent respondents: usually close to the "
        "actual number, larger where citizens' answers agree, smaller where they vary.",
    ),
    "chart.funnel.x": (
        "Ketelitian skor, dalam jumlah responden setara",
        "Precision of the score, in equivalent respondents",
    ),
    "chart.funnel.y": ("Nilai IKM (25–100)", "IKM score (25–100)"),
    "chart.funnel.limit95": ("batas 95%", "95% limits"),
    "chart.funnel.limit998": ("batas 99,8%", "99.8% limits"),
    "chart.funnel.above": ("di atas batas 95%", "above the 95% limit"),
    "chart.funnel.below": ("di bawah batas 95%", "below the 95% limit"),
    "chart.diverging.title": (
        "Sebaran jawaban per unsur (semua OPD)",
        "Answers per element (all OPDs)",
    ),
    "chart.diverging.title_opd": ("Sebaran jawaban per unsur", "Answers per element"),
    "chart.diverging.caption": (
        "Jawaban yang kurang baik (nilai 1 dan 2) di kiri garis nol, jawaban yang baik (3 dan "
        "4) di kanan. Makin panjang batang di kiri, makin banyak warga yang tidak puas dengan "
        "unsur itu. Nilai 1 berarti, misalnya, “Tidak sesuai” untuk persyaratan atau “Sangat "
        "mahal” untuk biaya.",
        "Unfavourable answers (values 1 and 2) left of the zero line, favourable ones (3 and "
        "4) right. The longer the bar on the left, the more citizens were dissatisfied with "
        "that element. Value 1 means, for example, “Not suitable” for requirements or “Very "
        "expensive” for the fee.",
    ),
    "chart.diverging.x": ("Persentase jawaban", "Share of answers"),
    "chart.diverging.worst": ("{v} (terburuk)", "{v} (worst)"),
    "chart.diverging.best": ("{v} (terbaik)", "{v} (best)"),
    "nrr.title": ("Nilai rata-rata per unsur (NRR) setiap OPD", "Element averages (NRR) per OPD"),
    "nrr.caption": (
        "Setiap sel adalah NRR satu unsur di satu OPD (skala 1–4). Warna lebih gelap = nilai "
        "lebih tinggi. Baris terakhir: median semua OPD. Nama unsur ada di bawah tabel.",
        "Each cell is one element's NRR at one OPD (scale 1–4). Darker = higher. Last row: "
        "the median of all OPDs. The element names are below the table.",
    ),
    "nrr.median": ("Median semua OPD", "Median of all OPDs"),
    # --- the regulation's IKM table ----------------------------------------------------------
    "reg.title": (
        "Tabel IKM menurut PermenPANRB 14/2017",
        "IKM table in the layout of PermenPANRB 14/2017",
    ),
    "reg.caption": (
        "NRR tertimbang = NRR × penimbang; IKM = jumlah NRR tertimbang; nilai konversi = "
        "{conversion}. Angka dibulatkan untuk dicetak; IKM dan kategorinya dihitung dari nilai "
        "yang tidak dibulatkan.",
        "Weighted NRR = NRR × weight; IKM = the sum of the weighted NRRs; converted score = "
        "{conversion}. Figures are rounded for print; the IKM and its category are computed "
        "from the unrounded values.",
    ),
    "reg.unanswered": (
        "Unsur yang tidak dijawab seorang pun tidak dihitung; penimbangnya dibagi di antara "
        "unsur yang dijawab.",
        "An element nobody answered is left out; the weights are shared among the answered "
        "elements.",
    ),
    "reg.not_applicable": (
        "{code}: {count} responden menjawab “{label}”; jawaban itu tidak diberi skor, jadi "
        "tidak termasuk responden yang menjawab unsur ini.",
        "{code}: {count} respondents answered “{label}”; that answer is not scored, so they "
        "are not among the respondents answering this element.",
    ),
    "reg.col.code": ("Kode", "Code"),
    "reg.col.element": ("Unsur pelayanan", "Service element"),
    "reg.col.answered": ("Responden menjawab", "Respondents answering"),
    "reg.col.nrr": ("NRR per unsur", "NRR per element"),
    "reg.col.weight": ("Penimbang", "Weight"),
    "reg.col.weighted": ("NRR tertimbang", "Weighted NRR"),
    "reg.ikm": ("IKM (jumlah NRR tertimbang)", "IKM (sum of the weighted NRRs)"),
    "reg.converted": ("Nilai konversi ({conversion})", "Converted score ({conversion})"),
    "reg.category": ("Mutu pelayanan (kinerja unit)", "Service quality (unit performance)"),
    "reg.all_title": (
        "Tabel IKM setiap OPD menurut PermenPANRB 14/2017",
        "IKM table of every OPD in the layout of PermenPANRB 14/2017",
    ),
    "reg.all_caption": (
        "OPD menurut peringkat. Setiap sel adalah NRR tertimbang satu unsur di satu OPD: NRR "
        "(tabel sebelumnya) × penimbang {weight}. Jumlah satu baris adalah IKM OPD itu; "
        "nilai konversi = {conversion}. Angka dibulatkan untuk dicetak; IKM dan kategorinya "
        "dihitung dari nilai yang tidak dibulatkan.",
        "OPDs by rank. Each cell is one element's weighted NRR at one OPD: the NRR (previous "
        "table) × the weight {weight}. A row's sum is that OPD's IKM; converted score = "
        "{conversion}. Figures are rounded for print; the IKM and its category are computed "
        "from the unrounded values.",
    ),
    "reg.col.conv": ("Konversi", "Converted"),
    "reg.col.category": ("Mutu", "Quality"),
    # --- methods appendix ------------------------------------------------------------------
    "methods.title": ("Lampiran: metode dan data", "Appendix: methods and data"),
    "methods.formula_title": ("Rumus", "Formula"),
    "methods.formula_nrr": (
        "NRR suatu unsur = jumlah nilai jawaban (1–{m}) unsur itu ÷ jumlah responden yang "
        "menjawabnya.",
        "NRR of an element = sum of its answers (1–{m}) ÷ number of respondents who answered it.",
    ),
    "methods.formula_ikm": (
        "IKM = rata-rata NRR dari {k} unsur, yaitu setiap NRR berbobot tepat 1/{k} (bukan "
        "0,111, yang membuat jumlah bobot 0,999).",
        "IKM = the mean of the NRRs of the {k} elements, each weighted exactly 1/{k} (not "
        "0.111, which makes the weights add up to 0.999).",
    ),
    "methods.formula_conv": (
        "Nilai konversi = 25 + 75 × (IKM − 1) ÷ (m − 1), dengan m = {m} jumlah pilihan "
        "jawaban (skala 25–100); pada 4 pilihan jawaban menurut peraturan ini sama dengan "
        "IKM × 25. Kuesioner dengan jumlah pilihan selain 4 dikategorikan menurut nilai "
        "konversinya (batas 25; 65; 76,61; 88,31).",
        "Converted score = 25 + 75 × (IKM − 1) ÷ (m − 1), with m = {m} answer values (scale "
        "25–100); on the regulation's 4-point scale this is IKM × 25. Questionnaires with "
        "another number of answer values are categorised by their converted score (bounds "
        "25, 65, 76.61, 88.31).",
    ),
    "methods.scheme_title": ("Kategori mutu pelayanan: {scheme}", "Service categories: {scheme}"),
    "methods.scheme_note": (
        "Kategori ditentukan dengan membandingkan skor dengan batas bawah setiap kategori (≥), "
        "secara tepat, tanpa pembulatan. Skor yang dicetak di samping kategorinya tidak pernah "
        "melewati batas kategori karena pembulatan: bila pembulatan biasa akan mencapai batas "
        "kategori lain, skor dicetak dengan satu atau dua desimal lebih (2,5996 di D, bukan "
        "2,60; 88,306 di B, bukan 88,31).",
        "The category is found by comparing the score with each category's lower bound (≥), "
        "exactly, without rounding. A score printed beside its category never crosses a "
        "category bound by rounding: where the usual rounding would reach another category's "
        "bound, one or two more decimals are printed (2.5996 in D, not 2.60; 88.306 in B, "
        "not 88.31).",
    ),
    "col.code": ("Mutu", "Grade"),
    "col.label": ("Kinerja", "Performance"),
    "col.min_ikm": ("IKM (1–4) mulai", "IKM (1–4) from"),
    "col.min_conv": ("Nilai (25–100) mulai", "Score (25–100) from"),
    "methods.uncertainty_title": (
        "Interval, peringkat dan perbandingan",
        "Intervals, ranks and comparisons",
    ),
    "methods.interval_analytic": (
        "Interval 95% setiap skor dihitung dengan responden sebagai satuan sampel (jawaban "
        "satu orang atas semua unsur saling berkaitan): galat baku dengan metode delta pada "
        "rata-rata unsur, lalu interval pada skala logit dari p = (IKM − 1) ÷ ({m} − 1), "
        "setelah menambahkan sepersepuluh responden semu di kedua ujung skala, dan "
        "dikembalikan ke skala 1–{m}. Karena itu interval selalu berada di dalam skala, tidak "
        "pernah selebar nol (juga bila semua jawaban sama) dan tetap tepat di dekat nilai "
        "tertinggi, tempat interval t biasa terlalu sempit (simulasi: cakupan 93–97% untuk "
        "n ≥ 15). Unsur yang dijawab satu orang saja diberi ragam terbesar dari unsur lain, "
        "sehingga tidak menghapus interval OPD.",
        "Every score's 95% interval treats the respondent as the unit of sampling (one "
        "person's answers to the elements are related): a delta-method standard error on the "
        "element means, then an interval on the logit scale of p = (IKM − 1) ÷ ({m} − 1), "
        "after adding a tenth of a pseudo-respondent at each end of the scale, mapped back to "
        "1–{m}. The interval therefore always lies inside the scale, never has zero width "
        "(even when all answers are equal) and holds its coverage near the top of the scale, "
        "where a plain t interval is too narrow (simulation: 93–97% coverage for n ≥ 15). An "
        "element answered by one person only is given the largest variance of the other "
        "elements, so it does not delete the OPD's interval.",
    ),
    "methods.interval_bootstrap": (
        "Interval 95% setiap skor dihitung dengan responden sebagai satuan sampel: bootstrap "
        "BCa dengan {b} pengambilan ulang responden per OPD (interval logit analitik untuk OPD "
        "dengan kurang dari {small} responden atau dengan jawaban yang seragam).",
        "Every score's 95% interval treats the respondent as the unit of sampling: a BCa "
        "bootstrap with {b} resamples of respondents per OPD (the analytic logit interval for "
        "OPDs with fewer than {small} respondents or with all answers alike).",
    ),
    "methods.ranks": (
        "Rentang peringkat adalah himpunan keyakinan 95% serentak untuk peringkat semua OPD "
        "(Mogstad, Romano, Shaikh & Wilhelm, Review of Economic Studies, 2024), dengan {draws} "
        "simulasi. Himpunan {k} terbaik (▲) memuat, dengan keyakinan 95%, semua OPD yang "
        "sebenarnya termasuk {k} terbaik; demikian pula himpunan {k} terendah (▼).",
        "Rank ranges are simultaneous 95% confidence sets for the ranks of all OPDs (Mogstad, "
        "Romano, Shaikh & Wilhelm, Review of Economic Studies, 2024), with {draws} draws. The "
        "set of the {k} best (▲) contains, with 95% confidence, every OPD truly among the {k} "
        "best; likewise the set of the {k} lowest (▼).",
    ),
    "methods.ranks_small": (
        "Hanya OPD dengan paling sedikit {min} respons terhitung (minimum gelombang ini) yang "
        "diberi peringkat; OPD dengan lebih sedikit respons tetap diberi skor dan intervalnya "
        "tetapi tidak ikut dalam perhitungan peringkat, himpunan {k} terbaik dan terendah, "
        "diagram corong, maupun skor EB, sehingga tidak mengubah rentang peringkat OPD lain. "
        "Simulasi peringkat memakai sebaran t per OPD dengan varians responden yang "
        "distabilkan ke arah varians gabungan gelombang: s²* = ((n − 1)·s² + {d0}·s²gabungan) "
        "/ (n − 1 + {d0}), dengan n − 1 + {d0} derajat bebas, seolah-olah {d0} responden "
        "tambahan memiliki varians gabungan. Dengan begitu OPD yang kecil, atau yang semua "
        "jawabannya sama, tidak membuat simulasi meledak.",
        "Only OPDs with at least {min} counted responses (this wave's minimum) are ranked; OPDs "
        "with fewer are scored, with their interval, but take no part in the ranks, the sets "
        "of the {k} best and lowest, the funnel plot or the EB scores, so they do not change "
        "any other OPD's rank range. The rank draws are t per OPD with the respondent "
        "variance stabilised toward the wave's pooled variance: s²* = ((n − 1)·s² + "
        "{d0}·s²pooled) / (n − 1 + {d0}), with n − 1 + {d0} degrees of freedom, as if {d0} more "
        "respondents had the pooled variance. So a small OPD, or one whose answers are all "
        "equal, cannot make the draws explode.",
    ),
    "methods.funnel": (
        "Batas diagram corong (Spiegelhalter, Statistics in Medicine, 2005) mengelilingi rata-"
        "rata IKM seluruh OPD {target} (nilai konversi; setiap OPD berbobot sama), dengan "
        "z = 1,96 dan 3,09 per OPD, dan diperlebar untuk keragaman nyata antar-OPD dengan "
        "τ² = {tau2} (REML, τ² yang sama dengan skor EB; faktor dispersi Spiegelhalter "
        "φ = {phi} hanya sebagai keterangan). OPD disebut berbeda nyata dari rata-rata hanya "
        "bila berada di luar batas dengan koreksi Bonferroni untuk {p} OPD (z = {z}) dan "
        "rentang peringkat simultannya tidak mencapai {k} terendah (bila di atas) atau {k} "
        "terbaik (bila di bawah).",
        "The funnel limits (Spiegelhalter, Statistics in Medicine, 2005) surround the average "
        "IKM of all OPDs {target} (converted; each OPD weighted equally), with z = 1.96 and "
        "3.09 per OPD, widened for real differences between OPDs with τ² = {tau2} (REML, the "
        "same τ² as the EB scores; Spiegelhalter's dispersion factor φ = {phi} is given for "
        "information only). An OPD is called clearly different from the average only outside "
        "the limits with a Bonferroni correction for {p} OPDs (z = {z}) and when its "
        "simultaneous rank range does not reach the {k} lowest (if above) or the {k} best "
        "(if below).",
    ),
    "methods.shrinkage": (
        "Skor EB: estimasi Bayes empiris normal-normal, ragam antar-OPD τ² = {tau2} (skala "
        "1–4, metode {method}).",
        "EB scores: normal-normal empirical Bayes, between-OPD variance τ² = {tau2} (scale "
        "1–4, {method}).",
    ),
    "methods.kruskal": (
        "Uji Kruskal-Wallis atas skor rata-rata tiap responden: H = {h}, derajat bebas {df}, "
        "p {p}.",
        "Kruskal-Wallis test on respondents' mean scores: H = {h}, {df} degrees of freedom, p {p}.",
    ),
    "methods.robust_title": (
        "Ketahanan terhadap penggelembungan suara",
        "Robustness to stuffed ballots",
    ),
    "methods.robust": (
        "Tabel berikut menunjukkan berapa suara ekstrem yang, bila ditambahkan ke satu OPD "
        "saja, cukup untuk mengubah hasilnya: suara yang menjawab semua unsur dengan nilai "
        "terbaik ({best}) untuk menaikkan kategori, masuk ke himpunan {k} terbaik atau keluar "
        "dari himpunan {k} terendah, dan dengan nilai terburuk ({worst}) untuk arah "
        "sebaliknya. Kategori dihitung persis. Himpunan peringkat dihitung ulang untuk setiap "
        "jumlah yang dicoba dengan prosedur, seed dan jumlah simulasi yang sama seperti di "
        "atas, dan jumlah yang dilaporkan sudah diperiksa: dengan jumlah itu hasilnya berubah, "
        "dengan satu suara lebih sedikit tidak. „> {limit}” berarti tidak ditemukan jumlah "
        "hingga {limit} suara yang mengubahnya; „—” berarti perubahan itu tidak mungkin (kategori "
        "tertinggi atau terendah). OPD yang paling rapuh tercantum lebih dahulu: angka kecil "
        "berarti hasil OPD itu bergantung pada segelintir respons.",
        "The table shows how many extreme ballots, added to one OPD alone, are enough to "
        "change its result: ballots answering every element with the best value ({best}) to "
        "raise its category, to enter the set of the {k} best or to leave the set of the {k} "
        "lowest, and with the worst value ({worst}) for the opposite. Categories are computed "
        "exactly. The rank sets are recomputed for each count tried with the same procedure, "
        "seed and number of draws as above, and the count reported has been checked: with it "
        "the result changes, with one ballot fewer it does not. “> {limit}” means that no "
        "count up to {limit} ballots was found to change it; “—” means that the change is "
        "impossible (highest or lowest category). The most fragile OPDs come first: a small "
        "number means that the OPD's result rests on a handful of responses.",
    ),
    "col.robust_up": ("Kategori naik", "Category up"),
    "col.robust_down": ("Kategori turun", "Category down"),
    "col.robust_top": ("{k} terbaik", "{k} best"),
    "col.robust_bottom": ("{k} terendah", "{k} lowest"),
    "robust.enter": ("masuk {n}", "enter {n}"),
    "robust.leave": ("keluar {n}", "leave {n}"),
    "robust.not_computed": ("tidak dihitung", "not computed"),
    "methods.robust_sets_skipped": (
        "Dengan {n} OPD, jumlah suara yang mengubah himpunan terbaik dan terendah tidak "
        "dihitung: setiap jumlah yang dicoba menghitung ulang peringkat semua OPD, terlalu lama "
        "untuk sebanyak ini.",
        "With {n} OPDs, the ballots that change the sets of the best and the lowest are not "
        "computed: every count tried recomputes the ranks of all OPDs, too slow for this many.",
    ),
    "methods.sample_title": ("Ukuran sampel", "Sample sizes"),
    "methods.sample_note": (
        "Minimal K&M: ukuran sampel minimal menurut tabel Krejcie & Morgan dalam PermenPANRB "
        "14/2017 untuk populasi N (pengguna layanan dalam periode survei), bila N diketahui. "
        "Angka itu dibuat untuk persentase, bukan untuk skor rata-rata; karena itu tabel juga "
        "memuat margin galat: setengah lebar interval 95% skor OPD (skala 25–100) dengan "
        "jumlah responden yang tercapai. Sebagai pembanding, kategori C hanya selebar "
        "11,6 poin.",
        "K&M minimum: the minimum sample of the Krejcie & Morgan table in PermenPANRB 14/2017 "
        "for a population N (service users in the period), where N is known. It is meant for "
        "a percentage, not a mean score, so the table also gives the margin of error: half "
        "the width of the OPD's 95% interval (scale 25–100) at the number of respondents "
        "reached. For comparison, category C is only 11.6 points wide.",
    ),
    "col.population": ("Populasi (N)", "Population (N)"),
    "col.km": ("Minimal K&M", "K&M minimum"),
    "col.target": ("Target", "Target"),
    "col.reached": ("Tercapai (n)", "Reached (n)"),
    "col.moe": ("Margin galat (±)", "Margin of error (±)"),
    "col.flagged": ("Ditandai", "Flagged"),
    "methods.flags_title": ("Respons yang ditandai", "Flagged responses"),
    "methods.flags_note": (
        "Respons yang ditandai tidak dihitung dalam skor mana pun. Total: {flagged} dari "
        "{total} respons masuk.",
        "Flagged responses count in no score. Total: {flagged} of {total} responses received.",
    ),
    "col.reason": ("Alasan", "Reason"),
    "col.count": ("Jumlah", "Count"),
    "flag.duplicate-device": (
        "Dikirim berulang dari perangkat yang sama",
        "Sent repeatedly from the same device",
    ),
    "flag.bot-suspect": ("Diduga isian otomatis (bot)", "Suspected automated submission (bot)"),
    "flag.manual": ("Ditandai oleh evaluator", "Flagged by the evaluator"),
    "methods.alpha_title": (
        "Konsistensi internal kuesioner",
        "Internal consistency of the questionnaire",
    ),
    "methods.alpha": (
        "Cronbach's alpha = {alpha} (interval 95%: {low}–{high}), dari {n} responden yang "
        "menjawab semua {k} unsur. Alpha mengukur konsistensi internal: seberapa seiring "
        "jawaban warga atas unsur-unsur itu. Nilai 0,7 atau lebih lazim dianggap cukup untuk "
        "merata-ratakan unsur menjadi satu indeks. Alpha tidak menunjukkan bahwa kuesioner "
        "mengukur satu hal saja, bahwa ia mengukur kepuasan dengan benar, atau bahwa "
        "peringkat OPD dapat diandalkan.",
        "Cronbach's alpha = {alpha} (95% interval: {low}–{high}), from {n} respondents who "
        "answered all {k} elements. Alpha measures internal consistency: how far citizens' "
        "answers to the elements go together. 0.7 or more is commonly taken as enough to "
        "average the elements into one index. Alpha does not show that the questionnaire "
        "measures a single thing, that it measures satisfaction correctly, or that the "
        "ranking of the OPDs is reliable.",
    ),
    "methods.alpha_none": (
        "Cronbach's alpha tidak dapat dihitung dari data ini.",
        "Cronbach's alpha cannot be computed from these data.",
    ),
    "methods.repro_title": ("Cara menghitung ulang", "How to reproduce these numbers"),
    "methods.repro": (
        "Semua angka dalam laporan ini dapat dihitung ulang persis sama dari data yang sama "
        "dengan pengaturan berikut. Sidik data berubah bila satu jawaban pun berubah.",
        "Every number in this report can be recomputed exactly from the same data with the "
        "settings below. The data fingerprint changes if any single answer changes.",
    ),
    "repro.seed": ("Seed", "Seed"),
    "repro.fingerprint": ("Sidik data", "Data fingerprint"),
    "repro.bootstrap": ("Bootstrap per OPD", "Bootstrap per OPD"),
    "repro.bootstrap_none": ("tidak (interval analitik)", "none (analytic intervals)"),
    "repro.draws": ("Simulasi peringkat", "Rank draws"),
    "repro.level": ("Tingkat keyakinan", "Confidence level"),
    "repro.scheme": ("Skema kategori", "Category scheme"),
    "repro.wave": ("Gelombang", "Wave"),
    "repro.top": ("K terbaik dan terendah", "K of the best and lowest"),
    "elements.title": ("Unsur pelayanan", "Service elements"),
    # --- OPD report -----------------------------------------------------------------------
    "opd.kind": ("Laporan Hasil Survei Kepuasan Masyarakat", "Public Satisfaction Survey Results"),
    "opd.for": ("untuk pimpinan {name}", "for the head of {name}"),
    "opd.score_title": ("Skor {name}", "Score of {name}"),
    "opd.ikm": ("IKM", "IKM"),
    "opd.converted": ("nilai konversi {conv}", "converted {conv}"),
    "opd.category": ("Kategori", "Category"),
    "opd.interval": ("Interval 95%", "95% interval"),
    "opd.rank": ("Peringkat", "Rank"),
    "opd.rank_range": (
        "rentang peringkat 95% (simultan): {low}–{high}",
        "95% rank range (simultaneous): {low}–{high}",
    ),
    "opd.scale_conv": ("skala 25–100", "scale 25–100"),
    "opd.respondents": ("Responden", "Respondents"),
    "opd.explain_interval": (
        "Skor ini dihitung dari {n} warga yang mengisi survei. Bila semua warga yang dilayani "
        "ikut mengisi, skornya dengan keyakinan 95% berada antara {low} dan {high} (skala "
        "25–100), asalkan para pengisi mewakili warga yang dilayani.",
        "This score comes from the {n} citizens who answered. Had every citizen served "
        "answered, the score would lie between {low} and {high} (scale 25–100) with 95% "
        "confidence, provided those who answered represent the citizens served.",
    ),
    "opd.explain_crosses": (
        "Rentang itu melewati batas kategori, sehingga kategori sebenarnya bisa {codes}.",
        "That range crosses a category boundary, so the true category could be {codes}.",
    ),
    "opd.explain_within": (
        "Seluruh rentang itu berada di kategori {code}, sehingga kategorinya cukup pasti.",
        "The whole range lies in category {code}, so the category is fairly certain.",
    ),
    "elements.table_caption": (
        "NRR setiap unsur (skala 1–4) dibandingkan dengan median semua OPD; unsur prioritas "
        "tindak lanjut ditandai: “lemah” bila seluruh interval 95% unsur itu di bawah IKM OPD, "
        "selain itu “terendah”.",
        "Each element's NRR (scale 1–4) against the median of all OPDs; the follow-up "
        "priorities are marked: “weak” when the element's whole 95% interval lies below the "
        "OPD's IKM, otherwise “lowest”.",
    ),
    "opd.explain_within_weak": (
        "Rentang itu berada di kategori {code}, tetapi respondennya sedikit atau jawabannya "
        "seragam, sehingga kategorinya belum dapat dipastikan.",
        "That range lies in category {code}, but there are few respondents or their answers "
        "are all alike, so the category cannot yet be called certain.",
    ),
    "opd.explain_rank": (
        "Menurut skornya, OPD ini berada di peringkat {rank} dari {count} OPD. Karena setiap "
        "skor mengandung ketidakpastian, peringkat sebenarnya dengan keyakinan 95% berada "
        "antara {low} dan {high} (rentang peringkat simultan: keyakinan 95% itu berlaku "
        "untuk semua OPD sekaligus).",
        "By its score this OPD ranks {rank} of {count}. As every score is uncertain, its true "
        "rank lies between {low} and {high} with 95% confidence (simultaneous rank range: the "
        "95% confidence holds for all OPDs at once).",
    ),
    "opd.explain_rank_exact": (
        "Menurut skornya, OPD ini berada di peringkat {rank} dari {count} OPD, dan data cukup "
        "kuat untuk memastikan peringkat itu dengan keyakinan 95% (rentang peringkat simultan).",
        "By its score this OPD ranks {rank} of {count}, and the data are strong enough to be "
        "sure of it with 95% confidence (simultaneous rank range).",
    ),
    "opd.explain_funnel_above": (
        "Skornya berbeda nyata di atas rata-rata IKM seluruh OPD ({mean}), juga setelah "
        "dikoreksi untuk {count} OPD yang dibandingkan sekaligus.",
        "Its score is clearly above the average IKM of all OPDs ({mean}), also when "
        "corrected for the {count} OPDs compared at once.",
    ),
    "opd.explain_funnel_below": (
        "Skornya berbeda nyata di bawah rata-rata IKM seluruh OPD ({mean}), juga setelah "
        "dikoreksi untuk {count} OPD yang dibandingkan sekaligus.",
        "Its score is clearly below the average IKM of all OPDs ({mean}), also when "
        "corrected for the {count} OPDs compared at once.",
    ),
    "opd.explain_funnel_inside": (
        "Data belum cukup untuk menyatakan skornya berbeda nyata dari rata-rata IKM seluruh "
        "OPD ({mean}), setelah dikoreksi untuk {count} OPD yang dibandingkan sekaligus.",
        "The data are not enough to say that its score differs clearly from the average IKM "
        "of all OPDs ({mean}), once corrected for the {count} OPDs compared at once.",
    ),
    "opd.unreliable": (
        "Perhatian: kurang dari {small} responden. Perkiraan ini belum andal.",
        "Caution: fewer than {small} respondents. This estimate is not yet reliable.",
    ),
    "opd.no_responses": (
        "OPD ini belum memiliki respons yang dihitung dalam gelombang survei ini, sehingga "
        "belum dapat dinilai.",
        "This OPD has no counted response in this survey wave, so it cannot be rated yet.",
    ),
    "opd.elements_title": ("Nilai setiap unsur", "Each element"),
    "opd.elements_caption": (
        "Titik = NRR unsur di OPD ini, garis = interval 95%; garis biru tegak = median NRR "
        "semua OPD. Unsur prioritas rencana tindak lanjut (nilai terendah) berwarna jingga.",
        "Dot = the element's NRR at this OPD, line = its 95% interval; blue tick = the median "
        "NRR of all OPDs. The priorities of the follow-up plan (lowest values) are in orange.",
    ),
    "col.element": ("Unsur", "Element"),
    "col.element_answers": (
        "Unsur dan pilihan jawaban (1–{m})",
        "Element and answer options (1–{m})",
    ),
    "col.nrr": ("NRR", "NRR"),
    "col.median": ("Median semua OPD", "Median of all OPDs"),
    "col.difference": ("Selisih", "Difference"),
    "chart.element.x": ("NRR (skala 1–4)", "NRR (scale 1–4)"),
    "chart.element.legend_own": ("NRR OPD ini dan interval 95%", "this OPD's NRR and 95% interval"),
    "chart.element.legend_median": ("median semua OPD", "median of all OPDs"),
    "chart.element.legend_weak": ("prioritas (nilai terendah)", "priorities (lowest values)"),
    "opd.plan_title": ("Rencana tindak lanjut", "Follow-up plan"),
    "opd.plan_intro": (
        "PermenPANRB 14/2017 meminta setiap unit menyusun rencana tindak lanjut dengan unsur "
        "bernilai terendah sebagai prioritas. Prioritas di bawah ini adalah {k} unsur dengan "
        "NRR terendah di antara unsur yang dijawab sedikitnya {min} responden; bila beberapa "
        "unsur bernilai sama di batas itu, semuanya ikut (atau tidak satu pun, bila tidak ada "
        "unsur yang bernilai lebih tinggi). Unsur disebut “lemah” hanya bila seluruh interval "
        "95%-nya berada di bawah IKM OPD ini; selain itu disebut “terendah”: nilainya paling "
        "rendah, tetapi data belum menunjukkan bahwa unsur itu benar-benar di bawah skor OPD.",
        "PermenPANRB 14/2017 asks every unit to write a follow-up plan that takes its "
        "lowest-scoring elements as priorities. The priorities below are the {k} elements with "
        "the lowest NRR among those answered by at least {min} respondents; elements tied at "
        "the cut are all taken (or none, when no element scores higher). An element is called "
        "“weak” only when its whole 95% interval lies below this OPD's IKM; otherwise it is "
        "“lowest”: its value is the lowest, but the data do not show that it is truly below "
        "the OPD's score.",
    ),
    "opd.plan_none": (
        "Tidak ada unsur yang dapat ditetapkan sebagai prioritas: terlalu sedikit unsur yang "
        "dijawab sedikitnya {min} responden, atau nilai unsur-unsurnya sama sehingga tidak ada "
        "yang paling rendah.",
        "No element can be named a priority: too few elements were answered by at least {min} "
        "respondents, or the elements score alike so that none is the lowest.",
    ),
    "opd.weak": ("lemah", "weak"),
    "opd.lowest": ("terendah", "lowest"),
    "col.priority": ("Prioritas", "Priority"),
    "col.action": ("Tindakan perbaikan", "Action"),
    "col.timeline": ("Waktu", "Timeline"),
    "col.responsible": ("Penanggung jawab", "Responsible"),
    "opd.units_title": ("Per unit layanan", "By service unit"),
    "opd.units_intro": (
        "Nilai setiap unit layanan dihitung seperti nilai OPD, dari respons yang diberikan di "
        "unit itu saja; jumlah respons semua baris sama dengan jumlah respons OPD, dan nilai "
        "OPD dihitung dari semuanya.",
        "Each service unit is scored as the OPD is, on the responses given at that unit only; "
        "the rows' responses add up to the OPD's, and the OPD's score is computed from all of "
        "them.",
    ),
    "opd.units_hidden": (
        "– : nilai unit tidak ditampilkan selama ada unit dengan kurang dari {min} responden: "
        "nilai unit kecil itu dapat dihitung dari nilai OPD dan unit lainnya.",
        "– : no unit's score is shown while a unit has fewer than {min} respondents: the "
        "small unit's score could be worked out from the OPD's and the other units'.",
    ),
    "opd.units_unreliable": (
        "* kurang dari {small} responden: perkiraan belum andal.",
        "* fewer than {small} respondents: the estimate is not yet reliable.",
    ),
    "opd.units_direct": ("Langsung ke OPD (tanpa unit)", "At the OPD itself (no unit)"),
    "opd.units_total": ("Seluruh OPD", "Whole OPD"),
    "opd.units_closed": ("(ditutup)", "(closed)"),
    "col.unit": ("Unit layanan", "Service unit"),
    "opd.profile_title": ("Profil responden", "Respondents"),
    "opd.profile_note": (
        "Demi kerahasiaan, kelompok dengan kurang dari {min} responden tidak ditampilkan "
        "sendiri: kelompok kecil digabung menjadi “{other}”, dan bila gabungannya pun kurang "
        "dari {min}, tidak ditampilkan.",
        "To keep respondents anonymous, no group of fewer than {min} is shown on its own: "
        "small groups are merged into “{other}”, and left out if even the merged group has "
        "fewer than {min}.",
    ),
    "opd.profile_hidden_plain": (
        "Kelompok yang terlalu kecil tidak ditampilkan.",
        "Groups too small to show are left out.",
    ),
    "opd.profile_share_note": (
        "Persentase dihitung dari {n} responden; tidak semua responden mengisi setiap data "
        "profil, sehingga jumlahnya bisa kurang dari 100%.",
        "Shares are of all {n} respondents; not everyone filled in every profile field, so "
        "they may add up to less than 100%.",
    ),
    "opd.profile_field_hidden": (
        "Terlalu sedikit jawaban untuk ditampilkan.",
        "Too few answers to show.",
    ),
    "opd.profile_none": ("Tidak ada data profil responden.", "No respondent profile data."),
    "profile.other": ("Lainnya", "Other"),
    "profile.sex": ("Jenis kelamin", "Sex"),
    "profile.age": ("Usia", "Age"),
    "profile.education": ("Pendidikan terakhir", "Education"),
    "profile.occupation": ("Pekerjaan", "Occupation"),
    "profile.service": ("Jenis layanan", "Service received"),
    "profile.value.L": ("Laki-laki", "Male"),
    "profile.value.P": ("Perempuan", "Female"),
    "profile.value.Lainnya": ("Lainnya", "Other"),
    "profile.value.Swasta": ("Swasta", "Private sector"),
    "profile.value.Wirausaha": ("Wirausaha", "Self-employed"),
    "col.group": ("Kelompok", "Group"),
    "col.share": ("Persentase", "Share"),
    "opd.comments_title": ("Kritik dan saran warga", "Citizens' comments"),
    "opd.comments_hidden": (
        "Komentar tidak ditampilkan karena OPD ini memiliki kurang dari {min} respons; dengan "
        "sedikit respons, penulis komentar dapat dikenali.",
        "Comments are not shown because this OPD has fewer than {min} responses; with so few, "
        "the people who wrote them could be recognised.",
    ),
    "opd.comments_none": ("Tidak ada komentar.", "No comments."),
    "opd.comments_private": (
        "Salinan publik: komentar warga hanya ditampilkan kepada kepala OPD dan evaluator.",
        "Public copy: citizens' comments are shown only to the OPD head and the evaluators.",
    ),
    "opd.comments_intro": (
        "{count} komentar, ditampilkan apa adanya (tanpa nama), yang terbaru lebih dulu.",
        "{count} comments, as written (without names), newest first.",
    ),
    "opd.trend_title": ("Perkembangan dari waktu ke waktu", "Trend over time"),
    "opd.trend_none": (
        "Belum ada gelombang survei sebelumnya untuk dibandingkan.",
        "There is no earlier survey wave to compare with yet.",
    ),
    "opd.trend_note": (
        "Bila interval dua gelombang saling bertumpang tindih, perubahan skornya bisa saja "
        "hanya kebetulan.",
        "Where the intervals of two waves overlap, the change in score may be chance alone.",
    ),
    "col.wave": ("Gelombang survei", "Survey wave"),
    "col.period_end": ("Akhir periode", "Period end"),
    "opd.current": ("(sekarang)", "(now)"),
    "opd.chart_trend_alt": (
        "Grafik skor OPD per gelombang survei",
        "Chart of the OPD's score per wave",
    ),
    "chart.trend.y": ("Nilai IKM (25–100)", "IKM score (25–100)"),
    "opd.compare_title": ("Dibandingkan dengan OPD lain", "Compared with the other OPDs"),
    # --- posters --------------------------------------------------------------------------
    "poster.kicker": ("Survei Kepuasan Masyarakat", "Public Satisfaction Survey"),
    "poster.call": (
        "Bagaimana pelayanan kami hari ini?",
        "How was our service today?",
    ),
    "poster.instruction": (
        "Pindai kode QR ini dan isi survei singkat (±1 menit). Tanpa login, tanpa nama.",
        "Scan this QR code and fill in a short survey (about 1 minute). No login, no name.",
    ),
    "poster.or": ("atau buka", "or open"),
    "poster.unit": ("Unit layanan: {unit}", "Service unit: {unit}"),
    "poster.footer": (
        "Survei Kepuasan Masyarakat · {wave} · Jawaban Anda membantu memperbaiki pelayanan publik.",
        "Public Satisfaction Survey · {wave} · Your answers help improve public services.",
    ),
    "poster.qr_alt": ("Kode QR menuju survei: {url}", "QR code to the survey: {url}"),
    "poster.doc_title": ("Poster QR survei", "Survey QR posters"),
    # --- visit code tickets ---------------------------------------------------------------
    "codes.label": ("Kode kunjungan (sekali pakai)", "Visit code (single use)"),
    "codes.instruction": (
        "Pindai kode QR, jawab survei, lalu masukkan kode ini. Kode tidak terkait dengan "
        "nama Anda.",
        "Scan the QR code, answer the survey, then enter this code. It is not linked to your name.",
    ),
    "codes.doc_title": ("Kode kunjungan survei", "Survey visit codes"),
}

_NUMBER_WORDS = {
    "id": ("nol", "satu", "dua", "tiga", "empat", "lima", "enam", "tujuh", "delapan", "sembilan"),
    "en": ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
}


class Texts:
    """The texts of one report language: ``t("key", name=value)``.

    Examples
    --------
    >>> Texts("id")("summary.mean", ikm="2,87", conv="71,75")
    'Rata-rata IKM seluruh OPD (setiap OPD berbobot sama): IKM 2,87 (nilai konversi 71,75).'
    >>> Texts("en").opd_word(1), Texts("en").opd_word(3), Texts("id").count_word(5)
    ('OPD', 'OPDs', 'lima')
    """

    def __init__(self, lang: Lang = "id", scale_points: int = 4) -> None:
        """Bind the language and the questionnaire's answer scale (for the "1–4" labels)."""
        if lang not in ("id", "en"):
            raise ValueError(f"lang must be 'id' or 'en', not {lang!r}")
        self.lang: Lang = lang
        self._index = 0 if lang == "id" else 1
        self.scale_points = int(scale_points)

    def __call__(self, key: str, **values: Any) -> str:
        """Return the text of `key`, with the placeholders filled from `values`.

        The scale "1–4" in a label becomes "1–m" for an m-point questionnaire.

        Examples
        --------
        >>> Texts("en", scale_points=5)("col.ikm")
        'IKM (1–5)'
        """
        text = TEXTS[key][self._index]
        if self.scale_points != 4:
            text = text.replace("1–4", f"1–{self.scale_points}")
        return text.format(**values) if values else text

    def get(self, key: str, default: str) -> str:
        """Return the text of `key`, or `default` when there is none (e.g. a custom code)."""
        pair = TEXTS.get(key)
        return default if pair is None else pair[self._index]

    def pick(self, indonesian: str, english: str) -> str:
        """Return whichever of two given texts is in the report language."""
        return english if self.lang == "en" and english else indonesian

    def opd_word(self, count: int) -> str:
        """Return "OPD" with the plural of the language ("OPD" / "OPDs")."""
        return "OPD" if self.lang == "id" or count == 1 else "OPDs"

    def count_word(self, count: int) -> str:
        """Return a small whole number in words (lima / five), larger ones in digits."""
        words = _NUMBER_WORDS[self.lang]
        return words[count] if 0 <= count < len(words) else str(count)

    def join(self, items: list[str]) -> str:
        """Join names as prose: "A, B dan C" / "A, B and C"."""
        if len(items) <= 1:
            return "".join(items)
        return ", ".join(items[:-1]) + f" {self('and')} " + items[-1]
