// A third-party platform as WxJava is one: only the JDK (java.net.http), WeChat's own hard-coded
// https://api.weixin.qq.com URLs, and nothing pointing at fastreg but an HTTP proxy (a
// ProxySelector) and a truststore made by keytool from `fastreg ca`. It walks the fast
// registration flow and checks one refusal; the sandbox API (plain HTTP, no proxy) stands in for
// the admin's two confirmations and for the verify-ticket push.
//
// Usage: java -Djavax.net.ssl.trustStore=T -Djavax.net.ssl.trustStorePassword=P \
//             FastregFlow SANDBOX_BASE ADMIN_TOKEN PROXY_HOST PROXY_PORT
// Prints one line per step; exits 1 with the reason on the first failure.

import java.net.InetSocketAddress;
import java.net.ProxySelector;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public final class FastregFlow {
    static final String API = "https://api.weixin.qq.com";
    static final String C = "wxc0ffee0000000001";
    static final String OA = "wx0a00000000000001";

    final HttpClient wechat;
    final HttpClient sandbox = HttpClient.newBuilder().proxy(HttpClient.Builder.NO_PROXY)
            .connectTimeout(Duration.ofSeconds(10)).build();
    final String base;
    final String admin;

    FastregFlow(String base, String admin, String proxyHost, int proxyPort) {
        this.base = base;
        this.admin = admin;
        this.wechat = HttpClient.newBuilder()
                .proxy(ProxySelector.of(new InetSocketAddress(proxyHost, proxyPort)))
                .connectTimeout(Duration.ofSeconds(10)).build();
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            fail("usage: FastregFlow SANDBOX_BASE ADMIN_TOKEN PROXY_HOST PROXY_PORT");
        }
        new FastregFlow(args[0], args[1], args[2], Integer.parseInt(args[3])).run();
    }

    void run() throws Exception {
        String secret = field(sandbox("GET", "/components/" + C, null), "appsecret");
        String verifyTicket = field(sandbox("GET", "/components/" + C + "/verify-ticket", null),
                "component_verify_ticket");
        step("verify ticket", "from the sandbox (WeChat pushes it)");

        String ct = field(post("/cgi-bin/component/api_component_token", json(
                "component_appid", C, "component_appsecret", secret,
                "component_verify_ticket", verifyTicket)), "component_access_token");
        step("api_component_token", "component_access_token issued");

        String q = "?component_access_token=" + ct;
        field(post("/cgi-bin/component/api_create_preauthcode" + q, json("component_appid", C)),
                "pre_auth_code");
        step("api_create_preauthcode", "pre_auth_code issued");

        String authCode = field(sandbox("POST", "/authorizations",
                "{\"component_appid\":\"" + C + "\",\"authorizer_appid\":\"" + OA
                        + "\",\"permission_sets\":[1,15,27]}"), "auth_code");
        step("authorisation", "the OA's admin confirmed (sandbox)");

        String oaToken = field(post("/cgi-bin/component/api_query_auth" + q, json(
                "component_appid", C, "authorization_code", authCode)), "authorizer_access_token");
        step("api_query_auth", "the OA's authorizer_access_token");

        String ticket = field(sandbox("POST", "/fastregister-confirmations",
                "{\"component_appid\":\"" + C + "\",\"appid\":\"" + OA
                        + "\",\"copy_wx_verify\":1,\"redirect_uri\":\"http://localhost/callback\"}"),
                "ticket");
        step("fastregisterauth", "the OA's admin confirmed (sandbox)");

        String registered = post("/cgi-bin/account/fastregister?access_token=" + oaToken,
                json("ticket", ticket));
        if (errcode(registered) != 0) {
            fail("fastregister refused: " + registered);
        }
        String mp = field(registered, "appid");
        String code = field(registered, "authorization_code");
        step("fastregister", "registered " + mp);

        String mpAuth = post("/cgi-bin/component/api_query_auth" + q, json(
                "component_appid", C, "authorization_code", code));
        field(mpAuth, "authorizer_refresh_token");
        if (!mp.equals(field(mpAuth, "authorizer_appid"))) {
            fail("api_query_auth answered for another account: " + mpAuth);
        }
        step("api_query_auth", "the new Mini Program's refresh token");

        String refused = post("/cgi-bin/account/fastregister?access_token=" + oaToken,
                json("ticket", "00000000000000000000000000000000"));
        if (errcode(refused) != 61058) {
            fail("an unknown ticket was not refused with 61058: " + refused);
        }
        step("fastregister (unknown ticket)", "refused: 61058");
        System.out.println("flow complete");
    }

    String post(String pathAndQuery, String body) throws Exception {
        HttpRequest req = HttpRequest.newBuilder(URI.create(API + pathAndQuery))
                .timeout(Duration.ofSeconds(10))
                .header("Content-Type", "application/json; charset=utf-8")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build();
        HttpResponse<String> resp = wechat.send(req, HttpResponse.BodyHandlers.ofString());
        if (resp.statusCode() != 200) {
            fail(pathAndQuery.split("\\?")[0] + " answered HTTP " + resp.statusCode());
        }
        return resp.body();
    }

    String sandbox(String method, String path, String body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + "/sandbox/v1" + path))
                .timeout(Duration.ofSeconds(10)).header("Authorization", "Bearer " + admin);
        if (body == null) {
            b.GET();
        } else {
            b.header("Content-Type", "application/json")
                    .method(method, HttpRequest.BodyPublishers.ofString(body));
        }
        HttpResponse<String> resp = sandbox.send(b.build(), HttpResponse.BodyHandlers.ofString());
        if (resp.statusCode() / 100 != 2) {
            fail("sandbox " + method + " " + path + " answered HTTP " + resp.statusCode());
        }
        return resp.body();
    }

    static String json(String... keyValues) {
        StringBuilder s = new StringBuilder("{");
        for (int i = 0; i < keyValues.length; i += 2) {
            s.append(i == 0 ? "" : ",").append('"').append(keyValues[i]).append("\":\"")
                    .append(keyValues[i + 1]).append('"');
        }
        return s.append('}').toString();
    }

    /** A string field of a flat-enough JSON answer; fails naming the field (never its value). */
    static String field(String body, String name) {
        Matcher m = Pattern.compile("\"" + name + "\"\\s*:\\s*\"([^\"]*)\"").matcher(body);
        if (!m.find()) {
            fail("no " + name + " in the answer (errcode " + errcode(body) + ")");
        }
        return m.group(1);
    }

    static long errcode(String body) {
        Matcher m = Pattern.compile("\"errcode\"\\s*:\\s*(-?\\d+)").matcher(body);
        return m.find() ? Long.parseLong(m.group(1)) : 0;
    }

    static void step(String what, String outcome) {
        System.out.printf("%-32s %s%n", what, outcome);
    }

    static void fail(String why) {
        System.err.println("FAILED: " + why);
        System.exit(1);
    }
}
