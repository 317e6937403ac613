//! URL paths of the WeChat-compatible endpoints, exactly as WeChat spells them.

/// `POST`: component secret + verify ticket → component_access_token.
pub const API_COMPONENT_TOKEN: &str = "/cgi-bin/component/api_component_token";
/// `POST`: ask the platform to push a fresh component_verify_ticket now.
pub const API_START_PUSH_TICKET: &str = "/cgi-bin/component/api_start_push_ticket";
/// `POST`: a pre_auth_code for componentloginpage.
pub const API_CREATE_PREAUTHCODE: &str = "/cgi-bin/component/api_create_preauthcode";
/// `POST`: exchange an auth_code / authorization_code for authorizer tokens.
pub const API_QUERY_AUTH: &str = "/cgi-bin/component/api_query_auth";
/// `POST`: refresh an authorizer_access_token with the refresh token.
pub const API_AUTHORIZER_TOKEN: &str = "/cgi-bin/component/api_authorizer_token";
/// `POST`: an authorizer's account and authorisation details.
pub const API_GET_AUTHORIZER_INFO: &str = "/cgi-bin/component/api_get_authorizer_info";
/// `POST`: page through the component's authorizers (recovers lost refresh tokens).
pub const API_GET_AUTHORIZER_LIST: &str = "/cgi-bin/component/api_get_authorizer_list";
/// `POST`: an authorizer's option (component token; the authorizer in the body).
pub const API_GET_AUTHORIZER_OPTION: &str = "/cgi-bin/component/api_get_authorizer_option";
/// `POST`: set an authorizer's option (component token; the authorizer in the body).
pub const API_SET_AUTHORIZER_OPTION: &str = "/cgi-bin/component/api_set_authorizer_option";
/// `POST`: an authorizer's option, WeChat's newer path (the authorizer's own token).
pub const GET_AUTHORIZER_OPTION: &str = "/cgi-bin/component/get_authorizer_option";
/// `POST`: set an authorizer's option, WeChat's newer path (the authorizer's own token).
pub const SET_AUTHORIZER_OPTION: &str = "/cgi-bin/component/set_authorizer_option";
/// `GET` (HTML): the OA admin authorises the component.
pub const COMPONENT_LOGIN_PAGE: &str = "/cgi-bin/componentloginpage";
/// `GET` (HTML): the H5 (mobile) authorisation page, WeChat's older path; the same parameters
/// as [`COMPONENT_LOGIN_PAGE`] plus `action=bindcomponent&no_scan=1`.
pub const BIND_COMPONENT_PAGE: &str = "/safe/bindcomponent";
/// `GET` (HTML): the H5 (mobile) authorisation page, WeChat's newer path (on
/// `open.weixin.qq.com`, followed by `#wechat_redirect`); as [`BIND_COMPONENT_PAGE`].
pub const WXAOPEN_BIND_COMPONENT_PAGE: &str = "/wxaopen/safe/bindcomponent";
/// `GET` (HTML): the OA admin confirms a fast registration.
pub const FAST_REGISTER_AUTH: &str = "/cgi-bin/fastregisterauth";
/// `POST`: register a Mini Program reusing the OA's entity (permission set 27).
pub const FAST_REGISTER: &str = "/cgi-bin/account/fastregister";
/// `POST`: Mini Programs linked to an OA.
pub const WXAMP_LINK_GET: &str = "/cgi-bin/wxopen/wxamplinkget";
/// `GET`: a Mini Program's basic account information.
pub const GET_ACCOUNT_BASIC_INFO: &str = "/cgi-bin/account/getaccountbasicinfo";

/// Every WeChat-compatible JSON endpoint (the two HTML pages excluded).
pub const JSON_ENDPOINTS: &[&str] = &[
    API_COMPONENT_TOKEN,
    API_START_PUSH_TICKET,
    API_CREATE_PREAUTHCODE,
    API_QUERY_AUTH,
    API_AUTHORIZER_TOKEN,
    API_GET_AUTHORIZER_INFO,
    API_GET_AUTHORIZER_LIST,
    API_GET_AUTHORIZER_OPTION,
    API_SET_AUTHORIZER_OPTION,
    GET_AUTHORIZER_OPTION,
    SET_AUTHORIZER_OPTION,
    FAST_REGISTER,
    WXAMP_LINK_GET,
    GET_ACCOUNT_BASIC_INFO,
];
