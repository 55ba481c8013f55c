//! `staff-admin`: what has to happen before any staff member can log in — the first centre
//! admin — and the code an authenticator app would show (for trying the API without a phone).
//!
//! ```text
//! STAFF_PASSWORD=… staff-admin bootstrap --account centre_admin --name 中心管理员 [--data DIR]
//! STAFF_PASSWORD=… staff-admin bootstrap … --backend aws      (TABLE_NAME, BUCKET_NAME, AWS_REGION, credentials)
//! staff-admin code <BASE32 KEY>
//! ```
//! The password is read from `STAFF_PASSWORD`, never from the command line (shell history, `ps`).
//! The new account's TOTP key is printed once, as an `otpauth://` URI and as base32.

use services::applications::Applications;
use services::config::Env;
use services::ports::{Clock, SystemClock};
use services::staff::StaffService;
use shared::reference::Reference;
use std::sync::Arc;

fn usage() -> ! {
    eprintln!(
        "usage: STAFF_PASSWORD=… staff-admin bootstrap --account NAME --name 姓名 [--data DIR | --backend aws]\n       staff-admin code BASE32KEY"
    );
    std::process::exit(2)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("code") => {
            let key = args.next().unwrap_or_else(|| usage());
            match services::staff::current_code(&key, SystemClock.now()) {
                Some(code) => println!("{code}"),
                None => usage(),
            }
        }
        Some("bootstrap") => bootstrap(args).await,
        _ => usage(),
    }
}

async fn bootstrap(mut args: impl Iterator<Item = String>) {
    let (mut account, mut name, mut data, mut backend) = (None, None, "data".to_string(), "embedded".to_string());
    while let Some(a) = args.next() {
        match a.as_str() {
            "--account" => account = args.next(),
            "--name" => name = args.next(),
            "--data" => data = args.next().unwrap_or_else(|| usage()),
            "--backend" => backend = args.next().unwrap_or_else(|| usage()),
            _ => usage(),
        }
    }
    let (Some(account), Some(name)) = (account, name) else { usage() };
    let Ok(password) = std::env::var("STAFF_PASSWORD") else {
        eprintln!("staff-admin: set STAFF_PASSWORD (not an argument: it would stay in the shell history)");
        std::process::exit(2)
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let reference = match Reference::load_default() {
        Ok(r) => Arc::new(r),
        Err(e) => fail(&e.to_string()),
    };
    let (table, objects): (Arc<dyn store::Table>, Arc<dyn services::ports::ObjectStore>) = match backend.as_str() {
        "embedded" => match embedded::Embedded::open(std::path::Path::new(&data), "http://127.0.0.1:8080") {
            Ok(e) => (e.table.clone(), e.objects.clone()),
            Err(e) => fail(&e.to_string()),
        },
        "aws" => {
            let env = Env::Process;
            let built = async {
                let aws = aws_adapters::Aws::from_env(&env)?;
                let table = aws_adapters::dynamo::DynamoTable::from_env(&aws, &env).await?;
                let objects = aws_adapters::s3::S3Objects::from_env(&aws, &env)?;
                Ok::<_, services::config::ConfigError>((table, objects))
            };
            match built.await {
                Ok((t, o)) => (Arc::new(t), Arc::new(o)),
                Err(e) => fail(&e.to_string()),
            }
        }
        _ => usage(),
    };
    let apps = Applications { table: table.clone(), objects, clock: clock.clone(), reference: reference.clone() };
    // Bootstrapping reads no ID document: the pepper is never fetched here.
    let id_pepper = services::secret::Secret::deferred(
        "ID_PEPPER_SECRET_ARN",
        |_| Ok(()),
        Box::new(|| Box::pin(async { Err(services::config::ConfigError::Missing("ID_PEPPER_SECRET_ARN")) })),
    );
    let staff = StaffService { table, clock: clock.clone(), totp_clock: clock, reference, apps, id_pepper };
    match staff.bootstrap_centre(&account, &name, &password).await {
        Ok(e) => {
            println!("created centre admin {account}");
            println!("TOTP key (shown once; add it to the admin's authenticator app):");
            println!("  {}", e.otpauth_uri);
            println!("  base32: {}", e.secret_base32);
        }
        Err(r) => fail(&format!("{}: {}", r.code, r.message)),
    }
}

fn fail(why: &str) -> ! {
    eprintln!("staff-admin: {why}");
    std::process::exit(1)
}
