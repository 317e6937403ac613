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

/// A query or path parameter.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// Its name.
    pub name: &'static str,
    /// Whether the operation needs it (a missing one is answered with an errcode).
    pub required: bool,
    /// What it is.
    pub description: &'static str,
    /// The values the handler accepts (the document's `schema`).
    pub schema: ParamSchema,
}

/// The values a parameter may take: what its handler enforces, taken from the same constants
/// the handler checks against, so the document cannot promise more than is accepted.
#[derive(Debug, Clone, Copy)]
pub enum ParamSchema {
    /// Any text.
    Text,
    /// A decimal integer in `min..=max`; absent (or empty) means `default`, when there is one.
    Integer {
        /// The smallest accepted.
        min: i64,
        /// The largest accepted.
        max: i64,
        /// The value of an absent parameter.
        default: Option<i64>,
    },
    /// One of these integers.
    IntegerOf(&'static [i64]),
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// Text matching this regular expression (ECMA 262, anchored).
    Pattern(&'static str),
    /// The name repeated, each a decimal integer in `min..=max` (`set=3&set=27`).
    Integers {
        /// The smallest accepted.
        min: i64,
        /// The largest accepted.
        max: i64,
    },
}

/// A query parameter the operation needs.
pub const fn required(name: &'static str, description: &'static str) -> Param {
    Param {
        name,
        required: true,
        description,
        schema: ParamSchema::Text,
    }
}

/// An optional query parameter.
pub const fn optional(name: &'static str, description: &'static str) -> Param {
    Param {
        name,
        required: false,
        description,
        schema: ParamSchema::Text,
    }
}

impl Param {
    /// Taking only these values.
    pub const fn schema(self, schema: ParamSchema) -> Param {
        Param { schema, ..self }
    }
}

/// What an operation reads from the body.
#[derive(Clone, Copy)]
pub enum RequestBody {
    /// Nothing.
    None,
    /// A JSON object of this type.
    Json(SchemaFn),
    /// A JSON object of this type, or no body at all (every field's default).
    OptionalJson(SchemaFn),
    /// An HTML form (`application/x-www-form-urlencoded`) of these fields, as its page posts
    /// it.
    Form(&'static [Param]),
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
    /// JSON of this type with status 200, or the same as TOML (`?format=toml`); failures are
    /// errcode JSON with a 4xx status.
    JsonOrToml(SchemaFn),
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

/// An OpenAPI link: where a success of one operation leads, with the values it gives the
/// next (runtime expressions such as `$response.body#/pre_auth_code`), so that a tool can walk
/// the flow.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    /// The link's name.
    pub name: &'static str,
    /// The operation it leads to (its `operationId`).
    pub operation_id: &'static str,
    /// Its parameters: (name, expression); a name may be `query.x` or `path.x` where the
    /// target has one of each.
    pub parameters: &'static [(&'static str, &'static str)],
    /// Its JSON body's fields: (name, expression).
    pub body: &'static [(&'static str, &'static str)],
}

/// A link to `operation_id`.
pub const fn link(name: &'static str, operation_id: &'static str) -> Link {
    Link {
        name,
        operation_id,
        parameters: &[],
        body: &[],
    }
}

impl Link {
    /// With these parameters.
    pub const fn parameters(self, parameters: &'static [(&'static str, &'static str)]) -> Link {
        Link { parameters, ..self }
    }

    /// With these body fields.
    pub const fn body(self, body: &'static [(&'static str, &'static str)]) -> Link {
        Link { body, ..self }
    }
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
    /// Its query parameters.
    pub query: &'static [Param],
    /// Its path parameters with a narrower schema than any text (the others come from the
    /// path template as text).
    pub path: &'static [Param],
    /// What it reads.
    pub body: RequestBody,
    /// What it answers.
    pub reply: Reply,
    /// Where its success leads.
    pub links: &'static [Link],
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
            path: &[],
            body: RequestBody::None,
            reply,
            links: &[],
        }
    }

    /// Leading to these operations.
    pub const fn links(self, links: &'static [Link]) -> Op {
        Op { links, ..self }
    }

    /// With this credential.
    pub const fn auth(self, auth: Auth) -> Op {
        Op { auth, ..self }
    }

    /// With these query parameters.
    pub const fn query(self, query: &'static [Param]) -> Op {
        Op { query, ..self }
    }

    /// With these path parameters' schemas.
    pub const fn path(self, path: &'static [Param]) -> Op {
        Op { path, ..self }
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
        router.route(&path_under(prefix, route.path), (route.methods)())
    })
}

/// The templates [`build_under`] serves `routes` at.
pub fn paths_under<'a>(prefix: &'a str, routes: &'a [Route]) -> impl Iterator<Item = String> + 'a {
    routes
        .iter()
        .map(move |route| path_under(prefix, route.path))
}

/// `path` under `prefix`, as axum joins a nested router's paths (`/` is the prefix itself).
pub fn path_under(prefix: &str, path: &str) -> String {
    match (prefix, path) {
        ("", path) => path.to_string(),
        (prefix, "/") => prefix.to_string(),
        (prefix, path) => format!("{prefix}{path}"),
    }
}

/// The path templates a router serves, to name a request's route before the router runs:
/// the envelope, which wraps the whole router, needs it to resolve the request's world and to
/// label its log line and metrics. Matched by `matchit`, the matcher axum's router uses, so a
/// path finds the template that axum routes it by; a path no template matches is routed by
/// the router's fallbacks.
#[derive(Default)]
pub struct Templates {
    paths: Vec<Box<str>>,
    matcher: matchit::Router<usize>,
}

impl Templates {
    /// The templates of `paths`: the router's own, each once or more (two tables may serve
    /// different methods of one path). A template that conflicts with another is left out;
    /// axum refuses to build a router with it, and a test compares the router's templates
    /// with [`super::TEMPLATES`].
    pub fn new(paths: impl IntoIterator<Item = String>) -> Templates {
        let mut templates = Templates::default();
        for path in paths {
            if templates
                .matcher
                .insert(&path, templates.paths.len())
                .is_ok()
            {
                templates.paths.push(path.into_boxed_str());
            }
        }
        templates
    }

    /// The template `path` is routed by, if a route serves it.
    pub fn find(&self, path: &str) -> Option<&str> {
        let at = self.matcher.at(path).ok()?;
        self.paths.get(*at.value).map(|p| &**p)
    }

    /// Every template, once.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.paths.iter().map(|p| &**p)
    }
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
