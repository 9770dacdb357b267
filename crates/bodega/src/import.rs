//! `bodega import FORMAT FILE` and `bodega export FORMAT FILE`: CSV in and out, with a progress
//! bar and a validation report. The engine is `bodega_store::import`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use bodega_store::audit::Actor;
use bodega_store::import::{self, Format, ImportOptions, ImportReport, Phase, StockMode};
use bodega_store::Db;

#[derive(clap::Args)]
pub struct ImportArgs {
    /// products, customers, sales, sales-items, transactions or online-retail.
    pub format: String,
    /// The CSV file.
    pub file: PathBuf,
    /// Warehouse code for stock and for sales without a store (created when missing).
    #[arg(long, default_value = "MAIN")]
    pub warehouse: String,
    /// Past sales: `historical` (stock untouched) or `ledger` (opening stock + sale exits).
    #[arg(long, default_value = "historical")]
    pub stock: String,
    /// Digits of the minor currency unit (default 0, as CLP; 2 for online-retail).
    #[arg(long)]
    pub decimals: Option<u32>,
    /// Validate and count, then roll back.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// products, customers, sales, sales-items or transactions.
    pub format: String,
    /// The CSV file to write (`-` for standard output).
    pub file: PathBuf,
    /// Digits of the minor currency unit (default 0).
    #[arg(long, default_value_t = 0)]
    pub decimals: u32,
}

fn format_arg(s: &str) -> anyhow::Result<Format> {
    Format::parse(s).with_context(|| {
        format!(
            "unknown format '{s}': use one of {}",
            Format::ALL.map(|f| f.as_str()).join(", ")
        )
    })
}

/// Runs an import and prints its report; fails (non-zero exit) when rows were rejected.
pub async fn run_import(db: &Db, args: &ImportArgs) -> anyhow::Result<()> {
    let format = format_arg(&args.format)?;
    let stock = StockMode::parse(&args.stock)
        .with_context(|| format!("unknown stock mode '{}': use historical or ledger", args.stock))?;
    let opts = ImportOptions {
        warehouse: args.warehouse.clone(),
        stock,
        decimals: args.decimals,
        dry_run: args.dry_run,
    };
    let report = import_file(db, format, &args.file, &opts).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    if !report.ok() {
        anyhow::bail!("{} row error(s): nothing was imported", report.errors_total);
    }
    Ok(())
}

/// Reads and imports a file with a progress bar on standard error.
pub async fn import_file(db: &Db, format: Format, file: &Path, opts: &ImportOptions) -> anyhow::Result<ImportReport> {
    let data = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let bar = ProgressBar::new(data.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:>8} [{elapsed_precise}] [{bar:40.cyan/blue}] {percent:>3}% {human_pos}/{human_len}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message("reading");
    let progress = {
        let bar = bar.clone();
        move |phase: Phase, done: u64, total: u64| {
            bar.set_message(match phase {
                Phase::Read => "reading",
                Phase::Write => "writing",
            });
            bar.set_length(total.max(1));
            bar.set_position(done);
        }
    };
    let actor = Actor::system("import");
    let report = import::import(db, &actor, format, &data, opts, &progress).await?;
    bar.finish_and_clear();
    Ok(report)
}

pub fn print_report(r: &ImportReport) {
    println!(
        "import {} ({}): {} rows read in {:.2} s{}",
        r.format,
        r.mode,
        r.rows_read,
        r.seconds,
        if r.dry_run { " — dry run, rolled back" } else { "" }
    );
    println!("  stock: {}", r.mode_note);
    let i = &r.imported;
    println!(
        "  imported: {} products, {} customers, {} sales, {} sale items, {} stock movements, {} categories, {} warehouses, {} suppliers",
        i.products, i.customers, i.sales, i.sale_items, i.stock_movements, i.categories, i.warehouses, i.suppliers
    );
    if !r.skipped.is_empty() {
        let list: Vec<String> = r.skipped.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!("  skipped: {}", list.join(", "));
    }
    if r.rounded > 0 {
        println!(
            "  rounded: {} amount(s) had more than {} decimal(s) and were rounded half up",
            r.rounded, r.decimals
        );
    }
    if r.duplicates > 0 {
        println!("  duplicates (already imported, left as they are): {}", r.duplicates);
    }
    if r.errors_total > 0 {
        println!("  {} error(s); nothing was written:", r.errors_total);
        for e in r.errors.iter().take(50) {
            println!("    row {}: {}: {}", e.row, e.field, e.reason);
        }
        if r.errors_total > 50 {
            println!("    … and {} more (use --json for the first 1000)", r.errors_total - 50);
        }
    } else {
        println!("  committed: {}", r.committed);
    }
}

pub async fn run_export(db: &Db, args: &ExportArgs) -> anyhow::Result<()> {
    let format = format_arg(&args.format)?;
    let mut conn = db.read().await?;
    let data = import::export(&mut conn.conn(), format, args.decimals).await?;
    if args.file.as_os_str() == "-" {
        use std::io::Write;
        std::io::stdout().write_all(&data)?;
    } else {
        std::fs::write(&args.file, &data).with_context(|| format!("writing {}", args.file.display()))?;
        eprintln!("exported {} to {}", format.as_str(), args.file.display());
    }
    Ok(())
}

/// `bodega demo --online-retail FILE`: loads the real data set (already imported invoices are
/// skipped as duplicates, so a restart adds nothing).
pub async fn load_online_retail(db: &Db, file: &Path) -> anyhow::Result<()> {
    eprintln!("Loading the Online Retail data set from {}…", file.display());
    let report = import_file(db, Format::OnlineRetail, file, &ImportOptions::default()).await?;
    print_report(&report);
    if !report.ok() {
        anyhow::bail!("the Online Retail file has {} invalid row(s)", report.errors_total);
    }
    Ok(())
}
