//! The route tables' vocabulary: every path the platform serves is one [`Route`] in a table
//! next to its handlers (`wechat::ROUTES`, `pages::ROUTES`, `sandbox::ROUTES`, `ops::ROUTES`):
//! the path, the axum method router that serves it, and one [`Op`] per method saying what it
//! takes and answers. The routers are built from those tables ([`build`]), and so is the
//! OpenAPI document (`super::openapi`), so a route cannot be served without being documented.
//!
//! A leaf of the HTTP layer: it imports none of its siblings, so every handler file and the
//! document can import it.

use std::sync::Arc;

use axum::routing::MethodRouter;
use axum::Router;
use schemars::{JsonSchema, Schema, SchemaGenerator};

use crate::state::AppState;

/// Produces the schema of a type (a `$ref` into `components/schemas`).
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// The [`SchemaFn`] of `T`.
pub fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// An HTTP method the platform routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// GET (HEAD is answered too, by axum).
    Get,
    /// POST.
    Post,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
}

impl Method {
    /// Upper case, as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    /// Lower case, as an OpenAPI path item's key.
    pub fn key(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Post => "post",
            Method::Patch => "patch",
            Method::Delete => "delete",
        }
    }
}

/// Which credential an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// None.
    None,
    /// `Authorization: Bearer <admin token>` (the sandbox API).
    Admin,
    /// The component's token as `component_access_token` or `access_token` in the query.
    ComponentToken,
    /// An authorizer's token as `access_token` in the query.
    AccessToken,
    /// `Authorization: Bearer <metrics_token>`, when one is configured.
    MetricsToken,
}

/// A query parameter.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// Its name.
    pub name: &'static str,
    /// Whether the operation needs it (a missing one is answered with an errcode).
    pub required: bool,
    /// What it is.
    pub description: &'static str,
}

/// A query parameter the operation needs.
pub const fn required(name: &'static str, description: &'static str) -> Param {
    Param {
        name,
        required: true,
        description,
    }
}

/// An optional query parameter.
pub const fn optional(name: &'static str, description: &'static str) -> Param {
    Param {
        name,
        required: false,
        description,
    }
}

/// What an operation reads from the body.
#[derive(Clone, Copy)]
pub enum RequestBody {
    /// Nothing.
    None,
    /// A JSON object of this type.
    Json(SchemaFn),
    /// An HTML form (`application/x-www-form-urlencoded`), as its page posts it.
    Form,
}

/// What an operation answers.
#[derive(Clone, Copy)]
pub enum Reply {
    /// A WeChat token endpoint: HTTP 200 with the object itself (no errcode), or the errcode
    /// JSON.
    WxToken(SchemaFn),
    /// A WeChat endpoint: HTTP 200 with `{"errcode":0,"errmsg":"ok", …fields}`, or the errcode
    /// JSON.
    WxOk(SchemaFn),
    /// fastregister: its own success shape, or the errcode JSON.
    WxFastRegister,
    /// JSON of this type with this status; failures are errcode JSON with a 4xx status.
    Json(u16, SchemaFn),
    /// 204, no body.
    NoContent,
    /// An HTML page; refusals are HTML pages with a 4xx status.
    Html,
    /// A redirect (302 to the component, 303 within the console), or an HTML refusal.
    Redirect,
    /// `/readyz`: 200 or 503, both with a body of this type.
    Readiness(SchemaFn),
    /// The Prometheus exposition.
    Metrics,
    /// This document.
    OpenApi,
}

/// One method of one path.
#[derive(Clone, Copy)]
pub struct Op {
    /// The method.
    pub method: Method,
    /// A unique, stable operation id.
    pub id: &'static str,
    /// One line on what it does.
    pub summary: &'static str,
    /// The credential it needs.
    pub auth: Auth,
    /// Its query parameters (path parameters come from the path template).
    pub query: &'static [Param],
    /// What it reads.
    pub body: RequestBody,
    /// What it answers.
    pub reply: Reply,
}

impl Op {
    /// An operation with no credential, no parameters, no body; adjust with the methods below.
    pub const fn new(method: Method, id: &'static str, summary: &'static str, reply: Reply) -> Op {
        Op {
            method,
            id,
            summary,
            auth: Auth::None,
            query: &[],
            body: RequestBody::None,
            reply,
        }
    }

    /// With this credential.
    pub const fn auth(self, auth: Auth) -> Op {
        Op { auth, ..self }
    }

    /// With these query parameters.
    pub const fn query(self, query: &'static [Param]) -> Op {
        Op { query, ..self }
    }

    /// Reading this body.
    pub const fn body(self, body: RequestBody) -> Op {
        Op { body, ..self }
    }
}

/// One path: how it is served and what it does.
pub struct Route {
    /// The path template, axum's and OpenAPI's syntax alike (`/components/{appid}`).
    pub path: &'static str,
    /// The handlers of its methods.
    pub methods: fn() -> MethodRouter<Arc<AppState>>,
    /// One per routed method.
    pub ops: &'static [Op],
}

/// A router serving every route of a table.
pub fn build(routes: &[Route]) -> Router<Arc<AppState>> {
    build_under("", routes)
}

/// A router of `routes`, each at `prefix` + its path (a world's base path: `/w/{world}`; its
/// `/` is the prefix itself). Flat routes rather than a nested router: a nested router strips
/// its prefix from every request's URI and routes it a second time, which cost a world's
/// requests about 4k instructions each (BENCHMARKS.md, "Worlds").
pub fn build_under(prefix: &str, routes: &[Route]) -> Router<Arc<AppState>> {
    routes.iter().fold(Router::new(), |router, route| {
        let path = match (prefix, route.path) {
            ("", path) => path.to_string(),
            (prefix, "/") => prefix.to_string(),
            (prefix, path) => format!("{prefix}{path}"),
        };
        router.route(&path, (route.methods)())
    })
}

/// A group of routes in the document.
pub struct Area {
    /// Its OpenAPI tag.
    pub tag: &'static str,
    /// What its routes have in common.
    pub description: &'static str,
    /// Where its routes are nested (empty: at the root).
    pub prefix: &'static str,
    /// Its route tables.
    pub routes: &'static [&'static [Route]],
}
