"""Statistics of FROC (numpy/scipy only): p-values, UCB/CUR, FWER control, the
Learn-then-Test controller, per-sample loss builders, shift bounds and CRC.

Entry points:
    certify_grid(forget={"tune","cal","test"}, utility=..., ...) -> GridCertificate
        everything the sweep needs: order learned on tune, LTT on cal, pointwise and
        simultaneous bounds, a selection-valid bound of the recommended configuration,
        references (original / oracle).
    recertify_on_test(F_attack_test, ...) -> Recertification   (attacks, test split only)
    cluster_means(losses, clusters)            sampling unit = cluster
    tune_order / pareto_order                  orders for fixed_sequence / graph / pareto
    resplit_check, ncal_curve                  descriptive diagnostics
    froc.certify(table, ...)                   any per-sample table (froc.risk.table)
    froc.risk.simulate                         validity simulations (tests, benchmarks/validity_table.py)

Rules enforced here: the loss type is explicit (``binary=None`` = the general test, never
detected from the data); asymptotic p-values (``clt``) are refused for certification
(:data:`CERTIFYING_PVALUES` lists the valid ones); ordered FWER procedures need an order
fixed before calibration.

References: Learn-then-Test (Angelopoulos, Bates, Candès, Jordan, Lei 2021);
Bentkus (2004); Waudby-Smith & Ramdas (2020); Pareto Testing (Laufer-Goldshtein,
Fisch, Barzilay, Jaakkola, ICLR 2023); C-RAG (Kang et al. 2024); Conformal Risk
Control (Angelopoulos et al. 2022); FROC (arXiv 2512.13337).
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
    ORDERED_FWER,
    get_fwer,
    graph,
    holm,
    needs_order,
    pareto,
)
from froc.risk.grid import GridCertificate, certify_grid
from froc.risk.ncal import ncal_curve
from froc.risk.order import nondominated_layers, pareto_order, tune_order
from froc.risk.recertify import Recertification, recertify_on_test
from froc.risk.units import cluster_means, cluster_sizes
from froc.risk.validity import resplit_check
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
    CERTIFYING_PVALUES,
    DIAGNOSTIC_PVALUES,
    PVALUES,
    bentkus,
    bentkus_from_mean,
    certifying_pvalue,
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
    "certify_grid",
    "GridCertificate",
    "recertify_on_test",
    "Recertification",
    "resplit_check",
    "ncal_curve",
    "cluster_means",
    "cluster_sizes",
    "tune_order",
    "pareto_order",
    "nondominated_layers",
    "CERTIFYING_PVALUES",
    "DIAGNOSTIC_PVALUES",
    "certifying_pvalue",
    "ORDERED_FWER",
    "needs_order",
    "pareto",
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
