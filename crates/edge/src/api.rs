//! The API surface, declared once: every route with its method, path template, owning function,
//! request and response types. Both functions dispatch through [`resolve`], the local server and
//! the `cargo lambda watch` router follow [`Function`], and `/openapi.json` is generated from the
//! same table — so the contract the mini-program team codes against is what the handlers accept.

use crate::http::{method_not_allowed, no_route};
use shared::error::Refusal;
use utoipa::ToSchema;
use utoipa::openapi::{
    self, ComponentsBuilder, ContentBuilder, HttpMethod, InfoBuilder, OpenApi, OpenApiBuilder, PathItem, PathsBuilder,
    Ref, RefOr, ResponseBuilder, Schema,
    path::{OperationBuilder, ParameterBuilder, ParameterIn},
    request_body::RequestBodyBuilder,
    security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme},
};

/// Which Lambda function serves a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Login,
    Application,
    /// Staff: sessions, queues, decisions, staff accounts, the audit trail.
    Review,
    /// Online payment: the quote, the order, WeChat Pay's notifications (R26–R31).
    Payment,
    /// Upload tickets for photos and proofs (R13, R41); the same function judges each upload
    /// when the object store announces it.
    Upload,
}

impl Function {
    pub fn name(self) -> &'static str {
        match self {
            Function::Login => "login",
            Function::Application => "application",
            Function::Review => "review",
            Function::Payment => "payment",
            Function::Upload => "upload",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteId {
    Register,
    LoginPassword,
    LoginFaceStart,
    LoginFace,
    LoginWechat,
    LoginBaidu,
    Logout,
    GetAccount,
    BindWechat,
    BindBaidu,
    AddDegree,
    EditDegree,
    AccountPhotoUploadUrl,
    SetAccountPhoto,
    ListProjects,
    ListDistricts,
    ListSites,
    ListSpecialties,
    ListNotices,
    CreateApplication,
    GetApplication,
    Agree,
    SavePage,
    ApplicationPhotoUploadUrl,
    ChoosePhoto,
    MaterialUploadUrl,
    AddMaterial,
    CompleteMaterials,
    Submit,
    Withdraw,
    ChangeDistrict,
    GetForm,
    GetFormPdf,
    ListTodos,
    GetPayment,
    StartPayment,
    WechatPayNotify,
    OpenApi,
    StaffLogin,
    StaffLogout,
    StaffMe,
    StaffQueue,
    StaffCounts,
    StaffFindByCode,
    StaffConfirmByCode,
    StaffGetApplication,
    StaffDecide,
    StaffCreate,
    StaffList,
    StaffDisable,
    StaffReset,
    StaffEnrol,
    StaffAudit,
    StaffScoreMerge,
    StaffHistory,
}

#[derive(Debug)]
pub struct Route {
    pub id: RouteId,
    pub function: Function,
    pub method: &'static str,
    /// Template with `{param}` segments, as API Gateway writes it.
    pub path: &'static str,
    pub summary: &'static str,
    pub auth: bool,
    pub request: Option<&'static str>,
    pub response: Option<&'static str>,
    pub status: u16,
    /// File name of the sample event under `events/<function>/`.
    pub event: &'static str,
}

macro_rules! route {
    ($id:ident, $f:ident, $m:literal, $p:literal, $s:literal, auth=$a:literal, $req:expr, $resp:expr, $st:literal, $ev:literal) => {
        Route {
            id: RouteId::$id,
            function: Function::$f,
            method: $m,
            path: $p,
            summary: $s,
            auth: $a,
            request: $req,
            response: $resp,
            status: $st,
            event: $ev,
        }
    };
}

pub const ROUTES: &[Route] = &[
    route!(
        Register,
        Login,
        "POST",
        "/v1/accounts",
        "考生注册 (R1)",
        auth = false,
        Some("RegisterRequest"),
        Some("SessionView"),
        201,
        "register.json"
    ),
    route!(
        LoginPassword,
        Login,
        "POST",
        "/v1/sessions/password",
        "账号密码登录 (R2)",
        auth = false,
        Some("PasswordLogin"),
        Some("SessionView"),
        200,
        "login-password.json"
    ),
    route!(
        LoginFaceStart,
        Login,
        "POST",
        "/v1/sessions/face/start",
        "人脸核身登录:开始 (R2, 微信人脸核身 getVerifyId)",
        auth = false,
        Some("FaceStartRequest"),
        Some("FaceAttemptView"),
        200,
        "login-face-start.json"
    ),
    route!(
        LoginBaidu,
        Login,
        "POST",
        "/v1/sessions/baidu",
        "百度智能小程序登录 (已绑定百度账号;swan.login 的 code)",
        auth = false,
        Some("LoginCode"),
        Some("SessionView"),
        200,
        "login-baidu.json"
    ),
    route!(
        LoginFace,
        Login,
        "POST",
        "/v1/sessions/face",
        "人脸核身登录:完成 (R2, 服务端 queryVerifyInfo 核验结果)",
        auth = false,
        Some("FaceLogin"),
        Some("SessionView"),
        200,
        "login-face.json"
    ),
    route!(
        LoginWechat,
        Login,
        "POST",
        "/v1/sessions/wechat",
        "小程序登录 (已绑定微信)",
        auth = false,
        Some("LoginCode"),
        Some("SessionView"),
        200,
        "login-wechat.json"
    ),
    route!(Logout, Login, "DELETE", "/v1/sessions/current", "退出登录", auth = true, None, None, 204, "logout.json"),
    route!(
        GetAccount,
        Login,
        "GET",
        "/v1/account",
        "查看账号信息",
        auth = true,
        None,
        Some("AccountView"),
        200,
        "get-account.json"
    ),
    route!(
        BindWechat,
        Login,
        "POST",
        "/v1/account/wechat",
        "绑定微信 (R2)",
        auth = true,
        Some("LoginCode"),
        Some("AccountView"),
        200,
        "bind-wechat.json"
    ),
    route!(
        BindBaidu,
        Login,
        "POST",
        "/v1/account/baidu",
        "绑定百度账号 (R2;swan.login 的 code)",
        auth = true,
        Some("LoginCode"),
        Some("AccountView"),
        200,
        "bind-baidu.json"
    ),
    route!(
        AddDegree,
        Login,
        "POST",
        "/v1/account/degrees",
        "新增学历学位信息 (R1, R11)",
        auth = true,
        Some("DegreeInput"),
        Some("AccountView"),
        201,
        "add-degree.json"
    ),
    route!(
        EditDegree,
        Login,
        "PUT",
        "/v1/account/degrees/{degree_id}",
        "修改学历学位信息 (R11)",
        auth = true,
        Some("DegreeInput"),
        Some("AccountView"),
        200,
        "edit-degree.json"
    ),
    route!(
        AccountPhotoUploadUrl,
        Upload,
        "POST",
        "/v1/account/photo/upload-url",
        "获取注册照片上传地址",
        auth = true,
        None,
        Some("UploadTicket"),
        200,
        "account-photo-upload-url.json"
    ),
    route!(
        SetAccountPhoto,
        Login,
        "PUT",
        "/v1/account/photo",
        "设置注册照片 (R1)",
        auth = true,
        Some("UploadedObject"),
        Some("AccountView"),
        200,
        "set-account-photo.json"
    ),
    route!(
        ListProjects,
        Application,
        "GET",
        "/v1/projects",
        "考试项目",
        auth = false,
        None,
        Some("ProjectView"),
        200,
        "list-projects.json"
    ),
    route!(
        ListDistricts,
        Application,
        "GET",
        "/v1/projects/{project}/districts",
        "考区 (R4)",
        auth = false,
        None,
        Some("DistrictView"),
        200,
        "list-districts.json"
    ),
    route!(
        ListSites,
        Application,
        "GET",
        "/v1/projects/{project}/districts/{district}/sites",
        "考点与报名点 (R40)",
        auth = false,
        None,
        Some("Site"),
        200,
        "list-sites.json"
    ),
    route!(
        ListSpecialties,
        Application,
        "GET",
        "/v1/projects/{project}/specialties",
        "专业类别、级别、专业与科目 (R8)",
        auth = false,
        None,
        Some("Specialty"),
        200,
        "list-specialties.json"
    ),
    route!(
        ListNotices,
        Application,
        "GET",
        "/v1/projects/{project}/notices",
        "重要声明与诚信承诺书 (R5)",
        auth = false,
        None,
        Some("Notice"),
        200,
        "list-notices.json"
    ),
    route!(
        ListTodos,
        Application,
        "GET",
        "/v1/todos",
        "待办事项 (R16 与各环节提醒),最新在前",
        auth = true,
        None,
        Some("TodoPage"),
        200,
        "list-todos.json"
    ),
    route!(
        GetPayment,
        Payment,
        "GET",
        "/v1/applications/{project}/payment",
        "缴费信息:科目与金额 (R26–R29)",
        auth = true,
        None,
        Some("PaymentQuote"),
        200,
        "get-payment.json"
    ),
    route!(
        StartPayment,
        Payment,
        "POST",
        "/v1/applications/{project}/payment",
        "发起缴费:生成订单与 wx.requestPayment 参数 (同一未过期订单重复请求返回同一订单)",
        auth = true,
        None,
        Some("PaymentStart"),
        200,
        "start-payment.json"
    ),
    route!(
        WechatPayNotify,
        Payment,
        "POST",
        "/v1/payments/wechat/notify",
        "微信支付结果通知 (签名验证;成功 204,失败 {code: FAIL})",
        auth = false,
        Some("WechatPayNotification"),
        None,
        204,
        "wechatpay-notify.json"
    ),
    route!(
        CreateApplication,
        Application,
        "POST",
        "/v1/applications",
        "选择考试项目与考区 (R4)",
        auth = true,
        Some("CreateApplication"),
        Some("ApplicationView"),
        201,
        "create-application.json"
    ),
    route!(
        GetApplication,
        Application,
        "GET",
        "/v1/applications/{project}",
        "报名信息与报考流程",
        auth = true,
        None,
        Some("ApplicationView"),
        200,
        "get-application.json"
    ),
    route!(
        Agree,
        Application,
        "POST",
        "/v1/applications/{project}/agreement",
        "同意声明与承诺书 (R5)",
        auth = true,
        Some("AgreeRequest"),
        Some("ApplicationView"),
        200,
        "agree.json"
    ),
    route!(
        SavePage,
        Application,
        "PUT",
        "/v1/applications/{project}/pages/{page}",
        "提交一页报名信息 (R6–R14)",
        auth = true,
        Some("PageInput"),
        Some("ApplicationView"),
        200,
        "save-page.json"
    ),
    route!(
        ApplicationPhotoUploadUrl,
        Upload,
        "POST",
        "/v1/applications/{project}/photo/upload-url",
        "获取考试照片上传地址 (R13)",
        auth = true,
        None,
        Some("UploadTicket"),
        200,
        "application-photo-upload-url.json"
    ),
    route!(
        ChoosePhoto,
        Application,
        "PUT",
        "/v1/applications/{project}/photo",
        "确认使用照片或更换考试照片 (R13)",
        auth = true,
        Some("ChoosePhotoRequest"),
        Some("ApplicationView"),
        200,
        "choose-photo.json"
    ),
    route!(
        MaterialUploadUrl,
        Upload,
        "POST",
        "/v1/applications/{project}/materials/{kind}/upload-url",
        "获取证明材料上传地址 (R41)",
        auth = true,
        None,
        Some("UploadTicket"),
        200,
        "material-upload-url.json"
    ),
    route!(
        AddMaterial,
        Application,
        "PUT",
        "/v1/applications/{project}/materials/{kind}",
        "登记已上传的证明材料 (R41)",
        auth = true,
        Some("UploadedMaterial"),
        Some("ApplicationView"),
        200,
        "add-material.json"
    ),
    route!(
        CompleteMaterials,
        Application,
        "POST",
        "/v1/applications/{project}/materials/complete",
        "上传全部证明材料 (R41)",
        auth = true,
        None,
        Some("ApplicationView"),
        200,
        "complete-materials.json"
    ),
    route!(
        Submit,
        Application,
        "POST",
        "/v1/applications/{project}/submit",
        "提交报名信息 (R15)",
        auth = true,
        None,
        Some("ApplicationView"),
        200,
        "submit.json"
    ),
    route!(
        Withdraw,
        Application,
        "POST",
        "/v1/applications/{project}/withdraw",
        "撤回提交 (R17, R20)",
        auth = true,
        None,
        Some("ApplicationView"),
        200,
        "withdraw.json"
    ),
    route!(
        ChangeDistrict,
        Application,
        "PUT",
        "/v1/applications/{project}/district",
        "修改考区 (R19)",
        auth = true,
        Some("ChangeDistrictRequest"),
        Some("ApplicationView"),
        200,
        "change-district.json"
    ),
    route!(
        GetForm,
        Application,
        "GET",
        "/v1/applications/{project}/form",
        "查看报名表 (R15)",
        auth = true,
        None,
        Some("RegistrationForm"),
        200,
        "get-form.json"
    ),
    route!(
        GetFormPdf,
        Application,
        "GET",
        "/v1/applications/{project}/form.pdf",
        "下载报名表 PDF (R15, R18, R41):A4,字体内嵌,验证码含二维码",
        auth = true,
        None,
        None,
        200,
        "get-form-pdf.json"
    ),
    route!(OpenApi, Application, "GET", "/openapi.json", "本文档", auth = false, None, None, 200, "openapi.json"),
    route!(
        StaffLogin,
        Review,
        "POST",
        "/v1/staff/sessions",
        "工作人员登录:账号、密码与动态口令 (TOTP)",
        auth = false,
        Some("StaffLoginRequest"),
        Some("StaffSessionView"),
        200,
        "staff-login.json"
    ),
    route!(
        StaffLogout,
        Review,
        "DELETE",
        "/v1/staff/sessions/current",
        "工作人员退出登录",
        auth = true,
        None,
        None,
        204,
        "staff-logout.json"
    ),
    route!(
        StaffMe,
        Review,
        "GET",
        "/v1/staff/me",
        "当前工作人员及其管辖范围",
        auth = true,
        None,
        Some("StaffView"),
        200,
        "staff-me.json"
    ),
    route!(
        StaffQueue,
        Review,
        "GET",
        "/v1/staff/projects/{project}/queues/{stage}",
        "工作队列:待确认 (R22, R41) 或待审核 (R24, R25),最早的在前",
        auth = true,
        None,
        Some("QueuePageView"),
        200,
        "staff-queue.json"
    ),
    route!(
        StaffCounts,
        Review,
        "GET",
        "/v1/staff/projects/{project}/counts",
        "各队列数量 (考区:按考点、报名点与阶段)",
        auth = true,
        None,
        Some("QueueCountView"),
        200,
        "staff-counts.json"
    ),
    route!(
        StaffFindByCode,
        Review,
        "GET",
        "/v1/staff/projects/{project}/codes/{code}",
        "按报名表验证码查找报名 (R22, R18)",
        auth = true,
        None,
        Some("StaffApplicationView"),
        200,
        "staff-find-by-code.json"
    ),
    route!(
        StaffConfirmByCode,
        Review,
        "POST",
        "/v1/staff/projects/{project}/codes/{code}/confirm",
        "按验证码现场确认 (R22, R34)",
        auth = true,
        None,
        Some("StaffApplicationView"),
        200,
        "staff-confirm-by-code.json"
    ),
    route!(
        StaffGetApplication,
        Review,
        "GET",
        "/v1/staff/applications/{candidate}/{project}",
        "查看报名信息、照片与材料 (记入审计)",
        auth = true,
        None,
        Some("StaffApplicationView"),
        200,
        "staff-get-application.json"
    ),
    route!(
        StaffDecide,
        Review,
        "POST",
        "/v1/staff/applications/{candidate}/{project}/decisions",
        "审核决定:报名点确认 (R42)、考点审核 (R24)、考区审核 (R25)",
        auth = true,
        Some("DecisionRequest"),
        Some("StaffApplicationView"),
        200,
        "staff-decide.json"
    ),
    route!(
        StaffCreate,
        Review,
        "POST",
        "/v1/staff/accounts",
        "创建工作人员账号 (中心:考区管理员;考区管理员:本考区工作人员)",
        auth = true,
        Some("NewStaffRequest"),
        Some("InvitationView"),
        201,
        "staff-create.json"
    ),
    route!(
        StaffList,
        Review,
        "GET",
        "/v1/staff/accounts",
        "本考区工作人员",
        auth = true,
        None,
        Some("StaffView"),
        200,
        "staff-list.json"
    ),
    route!(
        StaffDisable,
        Review,
        "POST",
        "/v1/staff/accounts/{account}/disable",
        "停用工作人员账号 (其会话立即失效)",
        auth = true,
        None,
        Some("StaffView"),
        200,
        "staff-disable.json"
    ),
    route!(
        StaffReset,
        Review,
        "POST",
        "/v1/staff/accounts/{account}/reset",
        "重置登录凭据:清除密码与动态口令,发放新的激活码 (其会话立即失效)",
        auth = true,
        None,
        Some("InvitationView"),
        200,
        "staff-reset.json"
    ),
    route!(
        StaffEnrol,
        Review,
        "POST",
        "/v1/staff/enrolment",
        "工作人员激活:凭管理员发放的激活码设置本人密码,领取动态口令密钥",
        auth = false,
        Some("StaffEnrolRequest"),
        Some("EnrolmentView"),
        200,
        "staff-enrol.json"
    ),
    route!(
        StaffScoreMerge,
        Review,
        "POST",
        "/v1/staff/applications/{candidate}/{project}/score-merge",
        "成绩合并 (R36):按考生去年的证件关联去年成绩",
        auth = true,
        Some("ScoreMergeRequest"),
        Some("StaffApplicationView"),
        200,
        "staff-score-merge.json"
    ),
    route!(
        StaffHistory,
        Review,
        "GET",
        "/v1/staff/applications/{candidate}/{project}/history",
        "报名的办理记录:何时、何人、何事及不通过的原因 (记入审计)",
        auth = true,
        None,
        Some("HistoryView"),
        200,
        "staff-history.json"
    ),
    route!(
        StaffAudit,
        Review,
        "GET",
        "/v1/staff/audit",
        "审计记录:本考区某日的工作人员操作",
        auth = true,
        None,
        Some("AuditPageView"),
        200,
        "staff-audit.json"
    ),
];

/// Path parameters by name.
#[derive(Debug, Default, Clone)]
pub struct Params(Vec<(&'static str, String)>);

impl Params {
    pub fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str()).unwrap_or("")
    }
}

/// The route for `method` and `path`: `NO_ROUTE` when no template matches the path,
/// `METHOD_NOT_ALLOWED` when one does but not with this method.
pub fn resolve(method: &str, segments: &[String]) -> Result<(&'static Route, Params), Refusal> {
    // The templates this path matches, and how many parameters each needed. A literal segment
    // beats a parameter: `/materials/complete` is only that path, never `/materials/{kind}`,
    // whatever the method (so `PUT …/materials/complete` is 405, as the OpenAPI says).
    let mut best: Option<usize> = None;
    let mut found: Vec<(&'static Route, Params, usize)> = vec![];
    for r in ROUTES {
        let tpl: Vec<&'static str> = r.path.split('/').filter(|s| !s.is_empty()).collect();
        if tpl.len() != segments.len() {
            continue;
        }
        let mut params = Params::default();
        let ok = tpl.iter().zip(segments).all(|(t, s)| match t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            Some(name) => {
                params.0.push((name, s.clone()));
                !s.is_empty()
            }
            None => t == s,
        });
        if ok {
            let n = params.0.len();
            best = Some(best.map_or(n, |b| b.min(n)));
            found.push((r, params, n));
        }
    }
    let Some(best) = best else { return Err(no_route()) };
    found
        .into_iter()
        .find(|(r, _, n)| *n == best && r.method == method)
        .map(|(r, p, _)| (r, p))
        .ok_or_else(method_not_allowed)
}

fn add<T: ToSchema>(schemas: &mut Vec<(String, RefOr<Schema>)>) {
    schemas.push((T::name().into_owned(), T::schema()));
    T::schemas(schemas);
}

/// Every schema a route names, and everything they reference.
fn components() -> Vec<(String, RefOr<Schema>)> {
    use crate::wire::*;
    let mut s = vec![];
    add::<RegisterRequest>(&mut s);
    add::<PasswordLogin>(&mut s);
    add::<FaceStartRequest>(&mut s);
    add::<FaceAttemptView>(&mut s);
    add::<FaceLogin>(&mut s);
    add::<LoginCode>(&mut s);
    add::<SessionView>(&mut s);
    add::<AccountView>(&mut s);
    add::<DegreeInput>(&mut s);
    add::<UploadedObject>(&mut s);
    add::<UploadedMaterial>(&mut s);
    add::<ProofView>(&mut s);
    add::<shared::reference::Proof>(&mut s);
    add::<services::ports::UploadTicket>(&mut s);
    add::<services::reminders::TodoPage>(&mut s);
    add::<services::payments::PaymentQuote>(&mut s);
    add::<services::payments::PaymentStart>(&mut s);
    add::<services::payments::RequestPayment>(&mut s);
    add::<crate::wire::WechatPayNotification>(&mut s);
    add::<crate::wire::WechatPayResource>(&mut s);
    add::<services::reminders::TodoView>(&mut s);
    add::<shared::domain::reminder::ReminderKind>(&mut s);
    add::<shared::domain::reminder::TodoAction>(&mut s);
    add::<ProjectView>(&mut s);
    add::<DistrictView>(&mut s);
    add::<shared::reference::District>(&mut s);
    add::<shared::reference::Site>(&mut s);
    add::<shared::reference::Specialty>(&mut s);
    add::<shared::reference::Notice>(&mut s);
    add::<CreateApplication>(&mut s);
    add::<ApplicationView>(&mut s);
    add::<crate::wire::UploadView>(&mut s);
    add::<AgreeRequest>(&mut s);
    add::<SitePageInput>(&mut s);
    add::<BasicPageInput>(&mut s);
    add::<ContactPageInput>(&mut s);
    add::<ExamPageInput>(&mut s);
    add::<EducationPageInput>(&mut s);
    add::<WorkPageInput>(&mut s);
    add::<ChoosePhotoRequest>(&mut s);
    add::<ChangeDistrictRequest>(&mut s);
    add::<RegistrationForm>(&mut s);
    add::<ErrorBody>(&mut s);
    add::<crate::staff::StaffLoginRequest>(&mut s);
    add::<crate::staff::StaffSessionView>(&mut s);
    add::<crate::staff::StaffView>(&mut s);
    add::<crate::staff::QueuePageView>(&mut s);
    add::<crate::staff::QueueEntryView>(&mut s);
    add::<crate::staff::QueueCountView>(&mut s);
    add::<crate::staff::StaffApplicationView>(&mut s);
    add::<crate::staff::MaterialLink>(&mut s);
    add::<crate::staff::DecisionRequest>(&mut s);
    add::<crate::staff::NewStaffRequest>(&mut s);
    add::<crate::staff::ScoreMergeRequest>(&mut s);
    add::<crate::staff::EnrolmentView>(&mut s);
    add::<crate::staff::InvitationView>(&mut s);
    add::<crate::staff::StaffEnrolRequest>(&mut s);
    add::<crate::staff::AuditPageView>(&mut s);
    add::<crate::staff::AuditRecordView>(&mut s);
    add::<crate::staff::HistoryView>(&mut s);
    add::<crate::staff::HistoryEntryView>(&mut s);
    add::<crate::staff::HistoryActor>(&mut s);
    // The page body depends on `{page}`: one of the six page inputs.
    let page_input = openapi::OneOfBuilder::new()
        .item(Ref::from_schema_name("SitePageInput"))
        .item(Ref::from_schema_name("BasicPageInput"))
        .item(Ref::from_schema_name("ContactPageInput"))
        .item(Ref::from_schema_name("ExamPageInput"))
        .item(Ref::from_schema_name("EducationPageInput"))
        .item(Ref::from_schema_name("WorkPageInput"))
        .description(Some("The body for `{page}`: site, basic, contact, exam, education or work (in that order, R6)."));
    s.push(("PageInput".into(), RefOr::T(Schema::OneOf(page_input.build()))));
    s
}

/// The error body every refusal has.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    /// Stable machine code, e.g. `PAGE_OUT_OF_ORDER`.
    code: String,
    /// Chinese text the mini-program can show as-is.
    message: String,
    /// The request field at fault, if any.
    field: Option<String>,
}

/// The `{param}` segments of a path template, as required string path parameters.
/// Each page of the form (R6, in order) and the schema of its body.
pub const PAGE_BODIES: [(&str, &str); 6] = [
    ("site", "SitePageInput"),
    ("basic", "BasicPageInput"),
    ("contact", "ContactPageInput"),
    ("exam", "ExamPageInput"),
    ("education", "EducationPageInput"),
    ("work", "WorkPageInput"),
];

/// A code (`shared::domain::values::Code`): project, district, site, point, specialty, ….
pub const CODE_PATTERN: &str = "^[0-9A-Za-z_-]{1,40}$";

fn path_params(path: &str) -> Vec<openapi::path::Parameter> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            // What the handlers accept: a page is one of six; a material kind is lower-case; every
            // other parameter is a code (`Code::parse`). A value outside these is a 400.
            let schema = openapi::ObjectBuilder::new().schema_type(openapi::Type::String);
            let schema = match name {
                "page" => schema.enum_values(Some(["site", "basic", "contact", "exam", "education", "work"])),
                "kind" => schema.pattern(Some("^[a-z0-9_]{1,32}$")),
                "stage" => schema.enum_values(Some(["confirm", "review"])),
                "candidate" => schema.pattern(Some("^[0-9a-f]{32}$")),
                // `parse_code`: the code's alphabet, either case (a clerk types what they read).
                "code" => schema.pattern(Some("^[2-9A-HJ-NP-Za-hj-np-z]{10}$")),
                "account" => schema.pattern(Some(crate::staff::STAFF_ACCOUNT_PATTERN)),
                _ => schema.pattern(Some(CODE_PATTERN)),
            };
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(openapi::Required::True)
                .schema(Some(schema))
                .build()
        })
        .collect()
}

/// The query parameters a route reads, as the handlers check them.
fn query_params(id: RouteId) -> Vec<openapi::path::Parameter> {
    let string =
        |pattern: &str| openapi::ObjectBuilder::new().schema_type(openapi::Type::String).pattern(Some(pattern));
    let param = |name: &str, required: bool, schema: openapi::ObjectBuilder, desc: &str| {
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Query)
            .required(if required { openapi::Required::True } else { openapi::Required::False })
            .description(Some(desc))
            .schema(Some(schema))
            .build()
    };
    match id {
        RouteId::StaffQueue => vec![
            param("after", false, string(QUEUE_POSITION_PATTERN), "上一页的 `next`"),
            param(
                "limit",
                false,
                openapi::ObjectBuilder::new().schema_type(openapi::Type::Integer).minimum(Some(1)).maximum(Some(100)),
                "每页条数 (1–100,默认 50)",
            ),
        ],
        RouteId::StaffList => vec![param("district", false, string(CODE_PATTERN), "考区 (中心账号必填)")],
        RouteId::ListTodos => {
            vec![param("after", false, string(services::reminders::TODO_POSITION_PATTERN), "上一页的 `next`")]
        }
        // WeChat Pay signs every notification (FACTS.md): these four headers, always.
        RouteId::WechatPayNotify => {
            let header = |name: &str, schema: openapi::ObjectBuilder, desc: &str| {
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Header)
                    .required(openapi::Required::True)
                    .description(Some(desc))
                    .schema(Some(schema))
                    .build()
            };
            vec![
                header("Wechatpay-Timestamp", string("^[0-9]{1,12}$"), "Unix 秒;与服务器时间相差 300 秒以上拒绝"),
                header("Wechatpay-Nonce", string("^[0-9A-Za-z]{1,64}$"), "随机串"),
                header("Wechatpay-Signature", string("^[A-Za-z0-9+/=]{1,1024}$"), "SHA256withRSA 签名 (base64)"),
                header("Wechatpay-Serial", string("^[0-9A-Za-z_]{1,64}$"), "微信支付公钥 ID (PUB_KEY_ID_…)"),
            ]
        }
        RouteId::StaffAudit => vec![
            param("day", true, string("^[0-9]{8}$"), "北京时间日期 YYYYMMDD"),
            param("district", false, string(CODE_PATTERN), "考区 (中心账号查看某考区时)"),
            param("after", false, string("^[0-9]{13}#[a-z0-9_]{4,32}#[0-9a-f]{8}$"), "上一页的 `next`"),
        ],
        _ => vec![],
    }
}

/// A queue position (`next` of a page): `<12-digit unix seconds>#<candidate id>`.
pub const QUEUE_POSITION_PATTERN: &str = "^[0-9]{12}#[0-9a-f]{32}$";

/// The methods a concrete path has (for `Allow` on a 405), in the order of [`ROUTES`].
pub fn allowed(segments: &[String]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = vec![];
    for m in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
        if let Ok((r, _)) = resolve(m, segments)
            && !out.contains(&r.method)
        {
            out.push(r.method);
        }
    }
    out
}

/// The OpenAPI 3.1 document for every route.
pub fn openapi() -> OpenApi {
    let mut paths = PathsBuilder::new();
    let error = |desc: &str| {
        ResponseBuilder::new()
            .description(desc)
            .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build())
            .build()
    };
    // `PUT …/pages/{page}` is one route for the handlers but six for a client: each page has its
    // own body, so the document lists each page's path with exactly that page's schema.
    let expanded = ROUTES.iter().flat_map(|r| -> Vec<(&Route, String, Option<&str>, String)> {
        if r.id == RouteId::SavePage {
            PAGE_BODIES
                .iter()
                .map(|(page, body)| (r, r.path.replace("{page}", page), Some(*body), format!("SavePage_{page}")))
                .collect()
        } else {
            vec![(r, r.path.to_string(), r.request, format!("{:?}", r.id))]
        }
    });
    for (r, path, request, id) in expanded {
        let mut op = OperationBuilder::new().operation_id(Some(id)).summary(Some(r.summary)).tag(r.function.name());
        for p in path_params(&path) {
            op = op.parameter(p);
        }
        if let Some(req) = request {
            op = op.request_body(Some(
                RequestBodyBuilder::new()
                    .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name(req))).build())
                    .required(Some(openapi::Required::True))
                    .build(),
            ));
        }
        let mut ok = ResponseBuilder::new().description("成功");
        if r.id == RouteId::GetFormPdf {
            let pdf = openapi::ObjectBuilder::new()
                .schema_type(openapi::schema::Type::String)
                .format(Some(openapi::SchemaFormat::KnownFormat(openapi::KnownFormat::Binary)));
            ok = ok.content("application/pdf", ContentBuilder::new().schema(Some(pdf)).build());
        }
        if let Some(resp) = r.response {
            let list = matches!(
                r.id,
                RouteId::ListProjects
                    | RouteId::ListDistricts
                    | RouteId::ListSites
                    | RouteId::ListSpecialties
                    | RouteId::ListNotices
                    | RouteId::StaffCounts
                    | RouteId::StaffList
            );
            let schema: RefOr<Schema> = if list {
                openapi::ArrayBuilder::new().items(Ref::from_schema_name(resp)).build().into()
            } else {
                Ref::from_schema_name(resp).into()
            };
            ok = ok.content("application/json", ContentBuilder::new().schema(Some(schema)).build());
        }
        op = op.response(r.status.to_string(), ok.build());
        op = op.response("4XX", error("请求被拒绝:code 为稳定的错误码,message 可直接展示"));
        op = op.response("5XX", error("系统繁忙"));
        for p in query_params(r.id) {
            op = op.parameter(p);
        }
        if r.auth {
            // Staff and candidates hold different sessions: neither is accepted by the other's routes.
            let scheme = if r.function == Function::Review { "staff_session" } else { "session" };
            op = op.security(SecurityRequirement::new(scheme, Vec::<String>::new()));
        }
        let method = match r.method {
            "GET" => HttpMethod::Get,
            "POST" => HttpMethod::Post,
            "PUT" => HttpMethod::Put,
            _ => HttpMethod::Delete,
        };
        paths = paths.path(path, PathItem::new(method, op.build()));
    }
    // A method a path does not have answers 405 with `Allow` (RFC 9110), said once in the
    // description rather than as pseudo-operations: a client or a fuzzer takes every operation in
    // the document for one that exists, and would call each "not allowed" one as if it did.
    let components = ComponentsBuilder::new()
        .schemas_from_iter(components())
        .security_scheme("session", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()))
        .security_scheme(
            "staff_session",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("工作人员会话 (POST /v1/staff/sessions);考生会话不被接受"))
                    .build(),
            ),
        )
        .build();
    OpenApiBuilder::new()
        .info(InfoBuilder::new().title("卫生资格/护士资格考试报名 API").version(env!("CARGO_PKG_VERSION")).description(
            Some(
                "Errors: `{code, message, field}`. Rules are cited as R<n> (DOMAIN.md). A method a path \
                     does not list answers 405 `METHOD_NOT_ALLOWED` with an `Allow` header naming the methods \
                     it has.",
            ),
        ))
        .paths(paths.build())
        .components(Some(components))
        .build()
}

/// The number's format per document type, as `IdDocument::parse` checks it (it trims and
/// upper-cases first).
const ID_NUMBER_PATTERNS: [(&str, &str); 5] = [
    ("resident_id", "^[0-9]{17}[0-9Xx]$"),
    ("hk_macau_permit", "^[HhMm](?:[0-9]{8}|[0-9]{10})$"),
    ("taiwan_permit", "^[0-9A-Za-z]{8,10}$"),
    ("passport", "^[0-9A-Za-z]{5,20}$"),
    ("foreign_permanent_resident", "^(?:[0-9A-Za-z]{15}|[0-9A-Za-z]{18})$"),
];

/// The document as served: [`openapi`] with the codes of the reference data the handlers check
/// against declared as enums — projects and districts in paths and bodies, sites, points,
/// categories, specialties and subject codes in the pages — and the rules that live in the
/// domain types (a person's name) as their patterns. A client learns the valid values from the
/// contract, and a property-based tester generates requests that reach the real logic.
pub fn openapi_with(reference: &shared::reference::Reference) -> serde_json::Value {
    use serde_json::{Value, json};
    fn codes<'a>(it: impl Iterator<Item = &'a str>) -> Value {
        let mut v: Vec<&str> = it.collect();
        v.sort_unstable();
        v.dedup();
        json!(v)
    }
    let mut doc = serde_json::to_value(openapi()).unwrap_or_default();
    let projects = codes(reference.projects().keys().map(|c| c.as_str()));
    let districts = codes(reference.districts().keys().map(|c| c.as_str()));
    let sites = codes(reference.sites().keys().map(|c| c.as_str()));
    let points = codes(reference.sites().values().flat_map(|s| s.points.iter().map(|p| p.code.as_str())));
    let categories = codes(reference.categories().keys().map(|c| c.as_str()));
    let specialties = codes(reference.specialties().keys().map(|(_, c)| c.as_str()));
    let subjects = codes(reference.kinds().values().flat_map(|k| k.subjects.iter().map(|s| s.code.as_str())));
    // Path parameters: every operation naming a project or a district.
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for op in paths.values_mut().filter_map(Value::as_object_mut).flat_map(|item| item.values_mut()) {
            for p in op.get_mut("parameters").and_then(Value::as_array_mut).into_iter().flatten() {
                let values = match p["name"].as_str() {
                    Some("project") => &projects,
                    Some("district") => &districts,
                    _ => continue,
                };
                p["schema"]["enum"] = values.clone();
            }
        }
    }
    let schemas = &mut doc["components"]["schemas"];
    for (schema, field, values) in [
        ("CreateApplication", "project", &projects),
        ("CreateApplication", "district", &districts),
        ("ChangeDistrictRequest", "district", &districts),
        ("SitePageInput", "site", &sites),
        ("SitePageInput", "point", &points),
        ("ExamPageInput", "category", &categories),
        ("ExamPageInput", "specialty", &specialties),
    ] {
        let prop = &mut schemas[schema]["properties"][field];
        // An optional field's schema may be `type: [string, null]`: null stays allowed.
        let mut values = values.clone();
        if prop["type"].as_array().is_some_and(|t| t.iter().any(|t| t == "null"))
            && let Some(v) = values.as_array_mut()
        {
            v.push(Value::Null);
        }
        prop["enum"] = values;
    }
    schemas["ExamPageInput"]["properties"]["subjects"]["items"]["enum"] = subjects;
    schemas["ExamPageInput"]["properties"]["subjects"]["uniqueItems"] = json!(true);
    schemas["RegisterRequest"]["properties"]["name"]["pattern"] = json!(shared::domain::values::PERSON_NAME_PATTERN);
    // The ID number's format depends on the document type (`IdDocument::parse`); the resident
    // ID's check digit and birth date are checked beyond what a pattern can say.
    let id_formats: Vec<Value> = ID_NUMBER_PATTERNS
        .iter()
        .map(|(t, p)| {
            json!({"if": {"properties": {"id_type": {"const": t}}, "required": ["id_type"]},
                   "then": {"properties": {"id_number": {"pattern": p}}}})
        })
        .collect();
    schemas["RegisterRequest"]["allOf"] = json!(id_formats.clone());
    schemas["ScoreMergeRequest"]["allOf"] = json!(id_formats);
    // Face verification knows resident ID cards only (R2).
    schemas["FaceStartRequest"]["properties"]["id_type"] = json!({"type": "string", "enum": ["resident_id"]});
    schemas["FaceStartRequest"]["properties"]["id_number"]["pattern"] = json!(ID_NUMBER_PATTERNS[0].1);
    // R5: the versions agreed to are the current ones.
    let versions = codes(reference.notices().values().map(|n| n.version.as_str()));
    schemas["AgreeRequest"]["properties"]["important_version"]["enum"] = versions.clone();
    schemas["AgreeRequest"]["properties"]["integrity_version"]["enum"] = versions;
    // R13: the registered photo takes no key; a replacement names its upload.
    schemas["ChoosePhotoRequest"]["oneOf"] = json!([
        {"properties": {"source": {"const": "registered"}, "key": {"type": "null"}}},
        {"properties": {"source": {"const": "replacement"}, "key": {"type": "string", "minLength": 1}}, "required": ["key"]}
    ]);
    // Staff: a district named in a query is a real one; an account's area is a real point, site
    // or district of its role (a centre account has none).
    for path in ["/v1/staff/accounts", "/v1/staff/audit"] {
        for op in doc["paths"][path].as_object_mut().into_iter().flat_map(|item| item.values_mut()) {
            for p in op.get_mut("parameters").and_then(Value::as_array_mut).into_iter().flatten() {
                if p["name"] == "district" {
                    p["schema"]["enum"] = districts.clone();
                }
            }
        }
    }
    let areas = [("point", &points), ("site", &sites), ("district", &districts)];
    let mut by_role: Vec<Value> = areas
        .iter()
        .map(|(role, codes)| {
            json!({"if": {"properties": {"role": {"const": role}}, "required": ["role"]},
                   "then": {"properties": {"area": {"enum": codes}}}})
        })
        .collect();
    by_role.push(json!({"if": {"properties": {"role": {"const": "centre"}}, "required": ["role"]},
                        "then": {"properties": {"area": {"const": ""}}}}));
    // A rejection or return carries its reason; an approval none.
    doc["components"]["schemas"]["DecisionRequest"]["allOf"] = json!([
        {"if": {"properties": {"decision": {"enum": ["reject_confirmation", "reject_site", "reject_district"]}},
                "required": ["decision"]},
         "then": {"required": ["reason"], "properties": {"reason": {"type": "string"}}}},
        {"if": {"properties": {"decision": {"enum": ["approve_confirmation", "approve_site", "approve_district"]}},
                "required": ["decision"]},
         "then": {"properties": {"reason": {"type": "null"}}}}
    ]);
    let staff = &mut doc["components"]["schemas"]["NewStaffRequest"];
    staff["allOf"] = json!(by_role);
    doc["components"]["schemas"]["StaffEnrolRequest"]["properties"]["password"]["pattern"] =
        json!(crate::staff::STAFF_PASSWORD_PATTERN);
    // R41: a proof kind is one some district declares.
    let kinds = codes(reference.materials().districts.values().flat_map(|d| d.proofs.iter().map(|p| p.kind.as_str())));
    for path in
        ["/v1/applications/{project}/materials/{kind}", "/v1/applications/{project}/materials/{kind}/upload-url"]
    {
        for op in doc["paths"][path].as_object_mut().into_iter().flat_map(|item| item.values_mut()) {
            for p in op.get_mut("parameters").and_then(Value::as_array_mut).into_iter().flatten() {
                if p["name"] == "kind" {
                    p["schema"]["enum"] = kinds.clone();
                }
            }
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(p: &str) -> Vec<String> {
        p.split('/').filter(|s| !s.is_empty()).map(str::to_string).collect()
    }

    #[test]
    fn literal_segments_win_over_parameters() {
        let (r, _) = resolve("POST", &segs("/v1/applications/2025-health/materials/complete")).unwrap();
        assert_eq!(r.id, RouteId::CompleteMaterials);
        let (r, p) = resolve("PUT", &segs("/v1/applications/2025-health/materials/diploma")).unwrap();
        assert_eq!((r.id, p.get("kind")), (RouteId::AddMaterial, "diploma"));
        // Not a material called "complete": the literal path has no PUT.
        let e = resolve("PUT", &segs("/v1/applications/2025-health/materials/complete")).unwrap_err();
        assert_eq!((e.code, e.kind.status()), ("METHOD_NOT_ALLOWED", 405));
    }

    #[test]
    fn unknown_paths_and_wrong_methods_are_told_apart() {
        assert_eq!(resolve("GET", &segs("/v1/nope")).unwrap_err().code, "NO_ROUTE");
        assert_eq!(resolve("DELETE", &segs("/v1/applications/x/submit")).unwrap_err().code, "METHOD_NOT_ALLOWED");
    }

    #[test]
    fn the_served_document_declares_the_reference_codes_and_the_domains_patterns() {
        let r = shared::reference::Reference::load_default().unwrap();
        let doc = openapi_with(&r);
        let op = &doc["paths"]["/v1/applications/{project}"]["get"];
        let project = op["parameters"].as_array().unwrap().iter().find(|p| p["name"] == "project").unwrap();
        assert_eq!(project["schema"]["enum"], serde_json::json!(["2025-health", "2025-nurse"]));
        let s = &doc["components"]["schemas"];
        assert_eq!(s["CreateApplication"]["properties"]["district"]["enum"].as_array().unwrap().len(), 32);
        assert!(
            s["SitePageInput"]["properties"]["point"]["enum"].as_array().unwrap().contains(&serde_json::Value::Null)
        );
        // One ID-number format per document type (the fuzzer checks them against the handlers).
        let formats = s["RegisterRequest"]["allOf"].as_array().unwrap();
        assert_eq!(formats.len(), 5);
        assert_eq!(s["FaceStartRequest"]["properties"]["id_type"]["enum"], serde_json::json!(["resident_id"]));
    }

    #[test]
    fn every_schema_a_route_names_is_in_the_document() {
        let doc = serde_json::to_value(openapi()).unwrap();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for r in ROUTES {
            for name in r.request.iter().chain(r.response.iter()) {
                assert!(schemas.contains_key(*name), "{name} missing for {}", r.path);
            }
        }
        assert_eq!(doc["openapi"].as_str().unwrap().get(..3), Some("3.1"));
        // A path lists exactly the methods it has; every other one is 405 with those in `Allow`.
        for (path, item) in doc["paths"].as_object().unwrap() {
            let concrete = segs(&path.replace("{project}", "2025-health").replace("{page}", "site"));
            let listed: Vec<String> = item
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| *k != "parameters")
                .map(|k| k.to_ascii_uppercase())
                .collect();
            let mut allowed: Vec<String> = allowed(&concrete).iter().map(|m| m.to_string()).collect();
            allowed.sort();
            let mut sorted = listed.clone();
            sorted.sort();
            assert_eq!(sorted, allowed, "{path}");
            for m in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
                let r = resolve(m, &concrete);
                assert_eq!(listed.contains(&m.to_string()), r.is_ok(), "{m} {path}");
                if let Err(e) = r {
                    assert_eq!(e.code, "METHOD_NOT_ALLOWED", "{m} {path}");
                }
            }
        }
        // Every $ref resolves.
        let text = doc.to_string();
        for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = &part[..part.find('"').unwrap()];
            assert!(schemas.contains_key(name), "dangling $ref {name}");
        }
    }
}
