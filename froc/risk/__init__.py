"""Statistics of FROC (numpy/scipy only): p-values, UCB/CUR, FWER control, the
Learn-then-Test controller, per-sample loss builders, shift bounds and CRC.

References: Learn-then-Test (Angelopoulos, Bates, Candès, Jordan, Lei 2021);
Bentkus (2004); Waudby-Smith & Ramdas (2020); C-RAG (Kang et al. 2024);
Conformal Risk Control (Angelopoulos et al. 2022); FROC (arXiv 2512.13337).
"""

from froc.risk.bounds import cur, ucb
from froc.risk.controller import RiskController
from froc.risk.crc import check_monotone, crc, crc_adjusted_risk
from froc.risk.fwer import (
    FWER,
    bonferroni,
    chain_graph,
    complete_graph,
    fixed_sequence,
    get_fwer,
    graph,
    holm,
)
from froc.risk.losses import (
    UnifiedNormalisers,
    chance_level,
    fit_unified_normalisers,
    forget_loss_binary,
    froc_unified_losses,
    knowledge_score,
    pair_units,
    unified_components,
    utility_loss_binary,
    utility_loss_continuous,
)
from froc.risk.pvalues import (
    PVALUES,
    bentkus,
    bentkus_from_mean,
    clt,
    get_pvalue,
    hb,
    hb_from_mean,
    hoeffding,
    hoeffding_from_mean,
    wsr,
)
from froc.risk.shift import cur_under_shift, hellinger_shift_bound, shifted_alpha

__all__ = [
    "RiskController",
    "ucb",
    "cur",
    "PVALUES",
    "get_pvalue",
    "hoeffding",
    "bentkus",
    "hb",
    "wsr",
    "clt",
    "hoeffding_from_mean",
    "bentkus_from_mean",
    "hb_from_mean",
    "FWER",
    "get_fwer",
    "bonferroni",
    "holm",
    "fixed_sequence",
    "graph",
    "chain_graph",
    "complete_graph",
    "knowledge_score",
    "chance_level",
    "forget_loss_binary",
    "utility_loss_binary",
    "utility_loss_continuous",
    "UnifiedNormalisers",
    "fit_unified_normalisers",
    "froc_unified_losses",
    "unified_components",
    "pair_units",
    "cur_under_shift",
    "hellinger_shift_bound",
    "shifted_alpha",
    "crc",
    "crc_adjusted_risk",
    "check_monotone",
]
