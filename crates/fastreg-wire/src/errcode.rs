//! THE errcode table: every WeChat errcode this project produces or expects, with the exact errmsg
//! text WeChat sends (before the `rid:` suffix), what it means, what to do about it, and whether
//! repeating the same call can help.
//!
//! The platform picks its errmsg texts from here and nowhere else; the SDK classifies errors with
//! it; the CLI's `errcode N` prints it. One table keeps the three from drifting apart.

use std::fmt;

/// What one errcode means. `meaning`/`remedy` are English, `*_zh` Chinese.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrCodeInfo {
    /// The numeric code as WeChat sends it.
    pub code: i64,
    /// The errmsg text WeChat sends, before any ` rid: …` / ` hint: […]` suffix.
    pub errmsg: &'static str,
    /// What went wrong, in English.
    pub meaning: &'static str,
    /// What the caller should do, in English.
    pub remedy: &'static str,
    /// What went wrong, in Chinese.
    pub meaning_zh: &'static str,
    /// What the caller should do, in Chinese.
    pub remedy_zh: &'static str,
    /// Whether sending the *same* request again later can succeed without anyone changing
    /// anything (true for transient faults and for expired tokens that the caller refreshes).
    pub retryable: Retry,
}

/// Whether a retry can help, and under which condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Repeating the identical request can never succeed; a person or a config must change.
    Never,
    /// Get a fresh token (or code) first, then the call can be repeated once.
    AfterRefresh,
    /// A transient condition: retry later with backoff. For fastregister this means reconcile
    /// first: the registration may have happened.
    Later,
}

macro_rules! errcodes {
    ($( $variant:ident = $code:literal, $msg:literal, $meaning:literal, $remedy:literal, $mzh:literal, $rzh:literal, $retry:ident; )*) => {
        /// A WeChat errcode. Every code of the spec's table has a variant; any other code is
        /// kept as a number in [`ErrCode::Other`] so nothing a server sends is lost.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrCode {
            $(
                #[doc = concat!("`", stringify!($code), "` ", $msg, ": ", $meaning)]
                $variant,
            )*
            /// A code not in this table, kept as sent.
            Other(i64),
        }

        /// Every known errcode, in table order.
        pub const TABLE: &[ErrCodeInfo] = &[
            $( ErrCodeInfo { code: $code, errmsg: $msg, meaning: $meaning, remedy: $remedy,
                meaning_zh: $mzh, remedy_zh: $rzh, retryable: Retry::$retry }, )*
        ];

        impl ErrCode {
            /// The numeric code.
            pub const fn code(self) -> i64 {
                match self { $( ErrCode::$variant => $code, )* ErrCode::Other(c) => c }
            }

            /// The variant for a numeric code (unknown codes become [`ErrCode::Other`]).
            pub const fn from_code(code: i64) -> ErrCode {
                match code { $( $code => ErrCode::$variant, )* c => ErrCode::Other(c) }
            }

            /// Every known code, in table order.
            pub const ALL: &'static [ErrCode] = &[ $( ErrCode::$variant, )* ];
        }
    };
}

errcodes! {
    SystemError = -1, "system error",
        "WeChat had an internal fault. For fastregister the Mini Program may nevertheless have been created.",
        "Retry later with backoff. For fastregister, first list the OA's linked Mini Programs (wxamplinkget) to learn whether it was created.",
        "系统繁忙或内部错误。对快速注册而言，小程序可能已经创建成功。",
        "稍后退避重试。快速注册请先用 wxamplinkget 查询公众号关联的小程序，确认是否已创建。",
        Later;
    InvalidCredential = 40001, "invalid credential, access_token is invalid or not latest",
        "The access token is unknown, malformed or was superseded by a newer one more than 300 s ago.",
        "Fetch a fresh token (component token from the verify ticket, authorizer token from the refresh token) and retry once; make sure only one instance refreshes.",
        "access_token 无效或不是最新的（被新 token 取代超过 300 秒）。",
        "重新获取 token 后重试一次；多实例部署时确保只有一个实例刷新 token。",
        AfterRefresh;
    InvalidAppId = 40013, "invalid appid",
        "The appid is unknown or does not match the credential used.",
        "Check the appid: component_appid must be the component's own, authorizer_appid an account that authorised it.",
        "appid 无效，或与所用凭证不匹配。",
        "检查 appid：component_appid 须为第三方平台自身的 appid，authorizer_appid 须为已授权的账号。",
        Never;
    InvalidUrl = 40066, "invalid url",
        "No such API path.",
        "Check the URL path against WeChat's documentation.",
        "不合法的 URL，接口不存在。",
        "对照文档检查接口路径。",
        Never;
    InvalidAppSecret = 40125, "invalid appsecret",
        "The component_appsecret is wrong.",
        "Use the AppSecret shown on open.weixin.qq.com for this component; reset it there if it leaked.",
        "第三方平台 AppSecret 错误。",
        "使用开放平台上该第三方平台的 AppSecret；若已泄露请重置。",
        Never;
    AccessTokenMissing = 41001, "access_token missing",
        "The request carries no access token query parameter.",
        "Send the token as ?access_token= (component endpoints also accept ?component_access_token=).",
        "缺少 access_token 参数。",
        "在查询串中携带 access_token（第三方平台接口也可用 component_access_token）。",
        Never;
    AppIdMissing = 41002, "appid missing",
        "The body carries no appid (component_appid / authorizer_appid).",
        "Add the missing appid field to the JSON body.",
        "缺少 appid 参数。",
        "在 JSON 请求体中补上 appid 字段。",
        Never;
    AppSecretMissing = 41004, "appsecret missing",
        "The body carries no component_appsecret.",
        "Add component_appsecret to the JSON body.",
        "缺少 appsecret 参数。",
        "在 JSON 请求体中补上 component_appsecret。",
        Never;
    AccessTokenExpired = 42001, "access_token expired",
        "The access token's 7200 s lifetime is over.",
        "Refresh the token and retry once; cache tokens until a little before expires_in.",
        "access_token 已过期。",
        "刷新 token 后重试一次；缓存 token 并在 expires_in 之前提前刷新。",
        AfterRefresh;
    RequireGetMethod = 43001, "require GET method",
        "This API must be called with GET.",
        "Use GET.",
        "需要 GET 请求。",
        "改用 GET 请求。",
        Never;
    RequirePostMethod = 43002, "require POST method",
        "This API must be called with POST.",
        "Use POST with a JSON body.",
        "需要 POST 请求。",
        "改用 POST 请求并携带 JSON 请求体。",
        Never;
    EmptyPostData = 44002, "empty post data",
        "The POST body is empty.",
        "Send the JSON body the API documents.",
        "POST 数据包为空。",
        "按文档发送 JSON 请求体。",
        Never;
    DailyQuotaReached = 45009, "reach max api daily quota limit",
        "The daily call quota of this API is used up.",
        "Cache tokens instead of fetching them per call; retry tomorrow or clear the quota on the console.",
        "接口调用超过每日限额。",
        "缓存 token，避免每次调用都获取；次日再试或在后台清零配额。",
        Later;
    DataFormatError = 47001, "data format error",
        "The body is not valid JSON, a field has the wrong type, or the body is larger than 1 MiB.",
        "Send valid JSON with the documented field types (strings as strings).",
        "数据格式错误：JSON 无法解析、字段类型错误，或请求体超过 1 MiB。",
        "发送合法 JSON，字段类型与文档一致（字符串用字符串）。",
        Never;
    ApiUnauthorized = 48001, "api unauthorized",
        "This token type may not call this API (for example a component or Mini Program token on an OA-only API).",
        "Use the right token: fastregister and wxamplinkget need the OA's authorizer_access_token, getaccountbasicinfo a Mini Program's.",
        "该类型的 token 无权调用此接口（例如用第三方平台或小程序 token 调用公众号接口）。",
        "使用正确的 token：fastregister/wxamplinkget 用公众号的 authorizer_access_token，getaccountbasicinfo 用小程序的。",
        Never;
    ComponentNotAuthorized = 61003, "component is not authorized by this account",
        "The account has not authorised this component, or revoked the authorisation.",
        "Ask the account's admin to authorise the component again (componentloginpage).",
        "该账号未授权给此第三方平台，或已取消授权。",
        "请账号管理员重新授权（componentloginpage）。",
        Never;
    ClientIpNotRegistered = 61004, "access clientip is not registered",
        "The caller's IP is not in the component's IP whitelist.",
        "Add the server's egress IP to the component's whitelist on open.weixin.qq.com.",
        "调用方 IP 不在第三方平台的白名单中。",
        "在开放平台把服务器出口 IP 加入白名单。",
        Never;
    ComponentTicketExpired = 61005, "component ticket is expired",
        "The component_verify_ticket is older than 12 hours.",
        "Use the latest pushed ticket; check that your push endpoint stores every component_verify_ticket push, or call api_start_push_ticket.",
        "component_verify_ticket 已过期（超过 12 小时）。",
        "使用最新推送的 ticket；检查推送接收地址是否正确保存，或调用 api_start_push_ticket。",
        Never;
    ComponentTicketInvalid = 61006, "component ticket is invalid",
        "The component_verify_ticket is unknown or was issued to another component.",
        "Use a ticket pushed to this component (call api_start_push_ticket to get one now).",
        "component_verify_ticket 无效，或属于其他第三方平台。",
        "使用推送给本平台的 ticket（可调用 api_start_push_ticket 立即推送）。",
        Never;
    ApiUnauthorizedToComponent = 61007, "api is unauthorized to component",
        "The account did not grant the permission set this API belongs to (fastregister: set 27).",
        "Ask the OA's admin to re-authorise with permission set 27; only one component can hold set 27 per OA.",
        "账号未向第三方平台授权此接口所属的权限集（快速注册：权限集 27）。",
        "请公众号管理员重新授权并勾选权限集 27；每个公众号的权限集 27 只能授权给一个第三方平台。",
        Never;
    CodeInvalid = 61009, "code is invalid",
        "The auth_code / authorization_code is unknown, already used, or belongs to another component.",
        "Codes are single use: exchange each once, right away, with the component that received it.",
        "授权码无效、已被使用或属于其他第三方平台。",
        "授权码只能使用一次：收到后立即由对应第三方平台换取。",
        Never;
    CodeExpired = 61010, "code is expired",
        "The auth_code / authorization_code is older than its lifetime.",
        "Exchange codes immediately; recover the refresh token with api_get_authorizer_list.",
        "授权码已过期。",
        "收到授权码后立即换取；可用 api_get_authorizer_list 找回 refresh_token。",
        Never;
    InvalidComponent = 61011, "invalid component",
        "The component_appid is unknown.",
        "Check component_appid.",
        "无效的第三方平台。",
        "检查 component_appid。",
        Never;
    InvalidOptionName = 61012, "invalid option name",
        "option_name is not one of location_report, voice_recognize, customer_service.",
        "Use one of WeChat's three option names.",
        "无效的选项名称。",
        "option_name 只能是 location_report、voice_recognize、customer_service。",
        Never;
    InvalidOptionValue = 61013, "invalid option value",
        "option_value is missing or not allowed for this option (location_report: 0, 1, 2; the others: 0, 1).",
        "Send an allowed value, as a string or a number.",
        "无效的选项值。",
        "location_report 取 0、1、2，其他选项取 0、1。",
        Never;
    RefreshTokenInvalid = 61023, "refresh_token is invalid",
        "The authorizer_refresh_token is wrong or was replaced when the account re-authorised.",
        "Recover the current refresh token with api_get_authorizer_list and persist it; never cache refresh tokens only in memory.",
        "authorizer_refresh_token 无效，或因账号重新授权已被替换。",
        "用 api_get_authorizer_list 找回当前 refresh_token 并持久化保存；不要只存在内存里。",
        Never;
    MustUseComponentToken = 61024, "must use api(api_component_token) to get token for component acct",
        "A component's appid was used with the ordinary cgi-bin/token API.",
        "Use api_component_token for components.",
        "第三方平台账号须用 api_component_token 获取 token。",
        "改用 api_component_token。",
        Never;
    ComponentUnpublished = 61028, "component is unpublished",
        "The component has not been fully released (全网发布).",
        "Publish the component on open.weixin.qq.com, then retry.",
        "第三方平台未全网发布。",
        "在开放平台完成全网发布后重试。",
        Never;
    ComponentNeedsBaseCategory = 61029, "component need republish with base category",
        "The component lacks a permission set fast registration needs (3, 17, 18, 30, 31).",
        "Add the missing permission sets to the component and republish it.",
        "第三方平台缺少快速注册所需的权限集（3、17、18、30、31）。",
        "为第三方平台补齐权限集并重新全网发布。",
        Never;
    InvalidRealnameType = 61051, "invalid realname type",
        "The OA's entity type may not fast-register (only enterprise, media, government, other organisation).",
        "Use an OA whose entity is an enterprise, media, government or other organisation.",
        "公众号主体类型不允许快速创建（仅企业、媒体、政府、其他组织）。",
        "更换主体为企业、媒体、政府或其他组织的公众号。",
        Never;
    NeedToBeCertified = 61052, "need to be certified",
        "The OA is not WeChat-verified.",
        "Complete the OA's WeChat verification, then retry.",
        "公众号未认证。",
        "完成公众号微信认证后重试。",
        Never;
    RealnameExceedLimits = 61053, "realname exceed limits",
        "The entity already owns the maximum number of Mini Programs.",
        "No more Mini Programs can be registered for this entity.",
        "主体已达到可注册小程序数量上限。",
        "该主体无法再注册小程序。",
        Never;
    RealnameInBlackList = 61054, "realname in black list",
        "The OA's entity is blacklisted.",
        "The entity cannot register Mini Programs.",
        "公众号主体在黑名单中。",
        "该主体无法注册小程序。",
        Never;
    ExceedQuotaPerMonth = 61055, "exceed quota per month",
        "The OA already fast-registered 5 Mini Programs this calendar month (Asia/Shanghai time).",
        "Retry next month; only successful registrations count.",
        "公众号本月（北京时间自然月）快速注册已达 5 个上限。",
        "下个月再试；只有成功的注册计入配额。",
        Never;
    CopyWxVerifyRequired = 61056, "copy_wx_verify is required option",
        "Government, media and other organisations must reuse the OA's verification.",
        "Build the fastregisterauth link with copy_wx_verify=1 and have the admin confirm again.",
        "政府、媒体、其他组织类型的公众号必须复用微信认证。",
        "用 copy_wx_verify=1 重新生成授权链接并让管理员重新确认。",
        Never;
    RegistrationInProgress = 61057, "there is still a fast registration in progress",
        "The OA has a fast registration still in progress or a Mini Program pending registration.",
        "Wait for the running registration to finish (reconcile with wxamplinkget); do not start another.",
        "公众号仍有快速创建的账号在流程中。",
        "等待进行中的注册完成（可用 wxamplinkget 对账），不要重复发起。",
        Later;
    InvalidTicket = 61058, "invalid ticket",
        "The fastregister ticket is unknown, expired, for another OA or component, or a call with it is still in progress (retried within 5 s).",
        "Never retry fastregister within 5 s. After a timeout, reconcile with wxamplinkget; otherwise send the admin through fastregisterauth again for a new ticket.",
        "ticket 无效：未知、过期、属于其他公众号或第三方平台，或同一 ticket 的请求仍在处理中（5 秒内重试）。",
        "5 秒内不要重试。超时后先用 wxamplinkget 对账；否则让管理员重新扫码获取新 ticket。",
        Never;
    RedirectUriIllegal = 61060, "redirect uri is illegal",
        "The redirect_uri's host is not the component's configured auth domain (登录授权的发起页域名).",
        "Use a redirect_uri on the component's auth domain, percent-encoded.",
        "redirect_uri 的域名不是第三方平台配置的登录授权发起页域名。",
        "使用第三方平台授权域名下的 redirect_uri，并进行 URL 编码。",
        Never;
    OverseasAccessDeny = 61061, "overseas access deny",
        "Overseas accounts may not fast-register.",
        "Use an OA of a mainland entity.",
        "海外账号不允许快速创建。",
        "使用境内主体的公众号。",
        Never;
}

impl ErrCode {
    /// This code's row of the table; `None` for [`ErrCode::Other`].
    pub fn info(self) -> Option<&'static ErrCodeInfo> {
        let code = self.code();
        TABLE.iter().find(|i| i.code == code)
    }

    /// The errmsg text WeChat sends for this code (`"unknown error"` for codes not in the table).
    pub fn errmsg(self) -> &'static str {
        self.info().map_or("unknown error", |i| i.errmsg)
    }

    /// Whether repeating the same request can succeed (see [`Retry`]); unknown codes: `Never`.
    pub fn retry(self) -> Retry {
        self.info().map_or(Retry::Never, |i| i.retryable)
    }
}

impl fmt::Display for ErrCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.errmsg())
    }
}

impl From<i64> for ErrCode {
    fn from(code: i64) -> Self {
        ErrCode::from_code(code)
    }
}

impl From<ErrCode> for i64 {
    fn from(code: ErrCode) -> Self {
        code.code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_number() {
        for &c in ErrCode::ALL {
            assert_eq!(ErrCode::from_code(c.code()), c);
            assert!(c.info().is_some(), "{c:?} has no table row");
        }
        assert_eq!(ErrCode::from_code(12345), ErrCode::Other(12345));
        assert_eq!(ErrCode::Other(12345).code(), 12345);
    }

    #[test]
    fn codes_in_the_table_are_unique() {
        let mut codes: Vec<i64> = TABLE.iter().map(|i| i.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), TABLE.len());
    }

    #[test]
    fn texts_match_the_spec_table() {
        assert_eq!(
            ErrCode::InvalidCredential.errmsg(),
            "invalid credential, access_token is invalid or not latest"
        );
        assert_eq!(ErrCode::InvalidTicket.errmsg(), "invalid ticket");
        assert_eq!(
            ErrCode::RegistrationInProgress.errmsg(),
            "there is still a fast registration in progress"
        );
        assert_eq!(
            ErrCode::RedirectUriIllegal.errmsg(),
            "redirect uri is illegal"
        );
        assert_eq!(ErrCode::Other(7).errmsg(), "unknown error");
    }

    #[test]
    fn only_transient_codes_invite_a_retry() {
        assert_eq!(ErrCode::SystemError.retry(), Retry::Later);
        assert_eq!(ErrCode::InvalidCredential.retry(), Retry::AfterRefresh);
        assert_eq!(ErrCode::AccessTokenExpired.retry(), Retry::AfterRefresh);
        assert_eq!(ErrCode::InvalidTicket.retry(), Retry::Never);
        assert_eq!(ErrCode::ExceedQuotaPerMonth.retry(), Retry::Never);
    }
}
