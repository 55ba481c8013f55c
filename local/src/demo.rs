//! Demo data for the local server, created through the same handlers a client calls: a
//! first-time candidate and a historical candidate (last year's record is in the history file),
//! each with a registration photo and a bound WeChat user.

use crate::Running;
use lambda_http::Body;
use serde_json::{Value, json};
use services::principal::Role;
use services::staff::NewStaff;
use shared::error::Refusal;

pub struct DemoUser {
    pub account: &'static str,
    pub password: &'static str,
    pub wechat_code: &'static str,
}

pub const FIRST_TIMER: DemoUser =
    DemoUser { account: "demo", password: "Demo2025pass", wechat_code: "local-demo-first" };
pub const HISTORICAL: DemoUser =
    DemoUser { account: "history", password: "Demo2025pass", wechat_code: "local-demo-history" };

fn request(method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> lambda_http::Request {
    let mut b =
        lambda_http::http::Request::builder().method(method).uri(path).header("content-type", "application/json");
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let body = body.map_or(Body::Empty, |v| Body::Text(v.to_string()));
    b.body(body).unwrap_or_default()
}

/// The demo candidates' registration photo: 358×441, 64 KB, drawn with Pillow.
const DEMO_PHOTO: &[u8] = include_bytes!("../demo-photo.jpg");

async fn call(
    r: &Running,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Result<(u16, Value), Refusal> {
    let req = request(method, path, token, body);
    // Tickets are the upload function's; everything else the seed does is the login function's.
    let resp = if path.ends_with("/upload-url") {
        ::upload::handle(&r.deps.uploads, req).await
    } else {
        login::handle(&r.deps.accounts, req).await
    };
    let status = resp.status().as_u16();
    let v = match resp.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    Ok((status, v))
}

/// Demo staff (local server only): one password and one **published** TOTP key for all, so a
/// newcomer can try the staff API with any authenticator app. Never used outside the demo seed.
pub const STAFF_PASSWORD: &str = "Demo-staff-2025";
pub const STAFF_TOTP_BASE32: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
/// (account, role, area, admin): the centre, 河南 (site confirmation) and 天津 (online).
pub const STAFF: [(&str, Role, &str, bool); 7] = [
    ("centre_admin", Role::Centre, "", true),
    ("henan_admin", Role::District, "41", true),
    ("henan_review", Role::District, "41", false),
    ("site_4101", Role::Site, "4101", false),
    ("tianjin_admin", Role::District, "12", true),
    ("point_1201p1", Role::Point, "1201P1", false),
    ("site_1201", Role::Site, "1201", false),
];

async fn seed_staff(r: &Running) -> Result<(), Refusal> {
    let key = services::staff::base32_decode(STAFF_TOTP_BASE32).ok_or_else(Refusal::internal)?;
    for (account, role, area, admin) in STAFF {
        let new = NewStaff {
            account: account.into(),
            name: "演示工作人员".into(),
            role,
            area: area.into(),
            admin,
            password: STAFF_PASSWORD.into(),
        };
        match r.deps.staff.provision(new, "(demo seed)", Some(&key)).await {
            Ok(_) => {}
            // Already seeded in an earlier run on this data directory.
            Err(e) if e.code == "STAFF_EXISTS" => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub async fn seed(r: &Running) -> Result<(), Refusal> {
    seed_staff(r).await?;
    let people = [
        (
            &FIRST_TIMER,
            "王五",
            "11010519491231002X",
            "female",
            "1949-12-31",
            "13800000001",
            "北京大学医学部",
            "护理学",
            "2012-07",
        ),
        (
            &HISTORICAL,
            "李四",
            "440524188001010014",
            "male",
            "1880-01-01",
            "13800000002",
            "郑州大学",
            "护理学",
            "2015-07",
        ),
    ];
    for (user, name, id, gender, birth, phone, school, major, grad) in people {
        let body = json!({
            "account": user.account, "password": user.password, "name": name, "id_type": "resident_id",
            "id_number": id, "gender": gender, "birth_date": birth, "nationality": "中国", "phone": phone,
            "degrees": [{"level": "bachelor", "school": school, "major": major, "graduated": grad, "degree": "学士"}]
        });
        let (status, v) = call(r, "POST", "/v1/accounts", None, Some(body)).await?;
        let token = match status {
            201 => v["token"].as_str().unwrap_or_default().to_string(),
            // Already seeded in an earlier run on this data directory.
            409 => continue,
            _ => return Err(Refusal::internal()),
        };
        call(r, "POST", "/v1/account/wechat", Some(&token), Some(json!({"code": user.wechat_code}))).await?;
        let (_, ticket) = call(r, "POST", "/v1/account/photo/upload-url", Some(&token), None).await?;
        let key = ticket["key"].as_str().unwrap_or_default().to_string();
        // A real JPEG (a drawn silhouette on 证件照 blue, not a person), so the demo's printed
        // form shows a picture.
        let jpeg = DEMO_PHOTO.to_vec();
        let status = crate::upload::upload(&ticket, "image/jpeg", jpeg).await.map_err(|e| {
            tracing::error!(error = %e, "demo photo upload");
            Refusal::internal()
        })?;
        if !(200..300).contains(&status) {
            return Err(Refusal::internal());
        }
        let (status, _) = call(r, "PUT", "/v1/account/photo", Some(&token), Some(json!({"key": key}))).await?;
        if status != 200 {
            return Err(Refusal::internal());
        }
    }
    Ok(())
}
