//! A target judged from a figure: its goal (at most or at least a bound, or a figure only shown
//! beside another), the verdict of the measured median against it, and its row in the targets
//! table. Pure and std-only: tests/bench_smoke.rs includes this file as it is.

/// What a target asks of its figure.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Goal {
    AtMost(f64),
    AtLeast(f64),
    /// No bound: the figure is shown beside another one (strict durability's p99 beside the
    /// disk's fsync p99).
    Shown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    NotMeasured,
    Shown,
}

impl Goal {
    /// The verdict of `measured` (a median; `None` or not finite: not measured).
    pub fn judge(self, measured: Option<f64>) -> Verdict {
        let Some(m) = measured.filter(|m| m.is_finite()) else {
            return Verdict::NotMeasured;
        };
        let met = match self {
            Goal::AtMost(bound) => m <= bound,
            Goal::AtLeast(bound) => m >= bound,
            Goal::Shown => return Verdict::Shown,
        };
        if met {
            Verdict::Pass
        } else {
            Verdict::Fail
        }
    }

    /// "≤ 200 µs", "≥ 0.35", or what a figure without a bound is shown beside.
    pub fn text(self, unit: &str) -> String {
        let space = if unit.is_empty() { "" } else { " " };
        match self {
            Goal::AtMost(b) => format!("≤ {b}{space}{unit}"),
            Goal::AtLeast(b) => format!("≥ {b}{space}{unit}"),
            Goal::Shown => "shown beside the disk's fsync p99".to_string(),
        }
    }
}

impl Verdict {
    pub fn text(self) -> &'static str {
        match self {
            Verdict::Pass => "**PASS**",
            Verdict::Fail => "**FAIL**",
            Verdict::NotMeasured => "not measured",
            Verdict::Shown => "–",
        }
    }
}

/// Where a failing row without a reason of its own points.
pub const SEE_ANALYSIS: &str = "see *What limits the figures* below";

/// One row of the targets table.
#[derive(Clone, Debug)]
pub struct Row {
    pub target: String,
    /// The concurrency it is measured at, if any.
    pub c: Option<usize>,
    pub measured: String,
    pub goal: String,
    pub verdict: Verdict,
    /// The measured reason or a pointer, for a row that fails or is not measured.
    pub why: String,
}

impl Row {
    /// A row judged from `median`, shown as `measured`.
    pub fn judged(
        target: impl Into<String>,
        c: Option<usize>,
        median: Option<f64>,
        measured: String,
        goal: Goal,
        goal_text: String,
    ) -> Row {
        Row {
            target: target.into(),
            c,
            measured,
            goal: goal_text,
            verdict: goal.judge(median),
            why: String::new(),
        }
    }

    /// Sets the reason (kept for a row that fails, is not measured or is only shown).
    pub fn because(mut self, why: impl Into<String>) -> Row {
        self.why = why.into();
        self
    }

    pub fn markdown(&self) -> String {
        let why = match (self.verdict, self.why.is_empty()) {
            (Verdict::Pass, _) => String::new(),
            (Verdict::Fail, true) => SEE_ANALYSIS.to_string(),
            (_, _) => self.why.clone(),
        };
        format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            self.target,
            self.c.map(|c| c.to_string()).unwrap_or_else(|| "–".into()),
            self.measured,
            self.goal,
            self.verdict.text(),
            why
        )
    }
}

/// The table and its tally: "N of M targets pass", the rows not measured and the rows only
/// shown not counted in M.
pub fn table(rows: &[Row]) -> String {
    let mut md = String::from("| target | c | measured | goal | result | why |\n");
    md.push_str("|---|---|---|---|---|---|\n");
    for row in rows {
        md.push_str(&row.markdown());
    }
    let count = |v: Verdict| rows.iter().filter(|r| r.verdict == v).count();
    let (pass, fail) = (count(Verdict::Pass), count(Verdict::Fail));
    md.push_str(&format!("\n{pass} of {} targets pass", pass + fail));
    let not_measured = count(Verdict::NotMeasured);
    if not_measured > 0 {
        md.push_str(&format!("; {not_measured} not measured in this run"));
    }
    md.push_str(".\n");
    md
}
