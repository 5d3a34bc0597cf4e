//! `toolsmith tune threshold`: the reuse threshold from the registry's own outcomes.

use std::process::ExitCode;

use toolsmith::Config;
use toolsmith::registry::tune::DEFAULT_MAX_WRONG_RATE;

use super::print_json;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Replay logged requests, choose the lowest threshold whose wrong-reuse rate is within
    /// --max-wrong-rate, print the curve and write the value into config.json.
    Threshold {
        /// Largest share of requests without their right tool that may reuse another.
        #[arg(long, default_value_t = DEFAULT_MAX_WRONG_RATE)]
        max_wrong_rate: f64,
        /// Print the curve and the choice, write nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(args: Args, config: Config) -> anyhow::Result<ExitCode> {
    let Command::Threshold { max_wrong_rate, dry_run, json } = args.command;
    let result = async { super::open(config).await?.tune_threshold(max_wrong_rate, !dry_run).await }.await;
    let r = match result {
        Ok(r) => r,
        Err(e) => return Ok(super::fail(&e, json)),
    };
    if json {
        print_json(&r);
        return Ok(ExitCode::SUCCESS);
    }
    let t = &r.tuning;
    println!(
        "history: {} requests answered by a tool, {} that needed a new one (threshold in use: {:.2})",
        t.answered, t.synthesized, r.previous
    );
    let any = t.answered + t.synthesized > 0;
    if any {
        println!("threshold  correct reuse  wrong reuse (right tool absent)");
    }
    for p in t
        .curve
        .iter()
        .filter(|_| any)
        .filter(|p| ((p.threshold * 100.0).round() as u32).is_multiple_of(5) || Some(p.threshold) == t.threshold)
    {
        let mark = if Some(p.threshold) == t.threshold { "  <- chosen" } else { "" };
        println!("  {:.2}     {:>6.3}         {:>6.3}{mark}", p.threshold, p.correct_reuse, p.wrong_reuse);
    }
    if t.answered < r.min_answered {
        println!(
            "not enough history: tuning needs at least {} requests answered by a tool (successful runs logged \
             with their request), the registry has {}; the threshold stays {:.2}",
            r.min_answered, t.answered, r.previous
        );
    } else if let Some(p) = r.tuning.chosen() {
        match &r.written_to {
            Some(file) => println!(
                "threshold {:.2} written to {file}: {:.1}% of answered requests reuse their tool, a wrong tool clears it for {:.1}% (at most {:.1}%)",
                p.threshold,
                p.correct_reuse * 100.0,
                p.wrong_reuse * 100.0,
                t.max_wrong_rate * 100.0
            ),
            None => println!("threshold {:.2} (dry run: nothing written)", p.threshold),
        }
    } else {
        println!(
            "no threshold up to {:.2} keeps wrong reuse within {:.1}%; the threshold stays {:.2}",
            t.curve.last().map_or(0.0, |p| p.threshold),
            t.max_wrong_rate * 100.0,
            r.previous
        );
    }
    Ok(ExitCode::SUCCESS)
}
