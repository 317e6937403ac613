# Sourced by the measurement scripts: `oa_token BASE ADMIN` prints the demo OA's authorizer
# token on the fastreg at BASE (admin token ADMIN), got as the serve banner's walk-through gets
# it, after checking that fastregister with a ticket nobody issued is refused with 61058.
oa_token() {
    local B=$1 A="Authorization: Bearer $2" C=wxc0ffee0000000001 OA=wx0a00000000000001
    local SECRET VT CT CODE OAT check
    j() { sed -E "s/.*\"$1\":\"([^\"]*)\".*/\1/"; }
    SECRET=$(curl -s -H "$A" $B/sandbox/v1/components/$C | j appsecret)
    VT=$(curl -s -H "$A" $B/sandbox/v1/components/$C/verify-ticket | j component_verify_ticket)
    CT=$(curl -s $B/cgi-bin/component/api_component_token -d "{\"component_appid\":\"$C\",\"component_appsecret\":\"$SECRET\",\"component_verify_ticket\":\"$VT\"}" | j component_access_token)
    CODE=$(curl -s -H "$A" $B/sandbox/v1/authorizations -d "{\"component_appid\":\"$C\",\"authorizer_appid\":\"$OA\",\"permission_sets\":[1,15,27]}" | j auth_code)
    OAT=$(curl -s "$B/cgi-bin/component/api_query_auth?component_access_token=$CT" -d "{\"component_appid\":\"$C\",\"authorization_code\":\"$CODE\"}" | j authorizer_access_token)
    check=$(curl -s "$B/cgi-bin/account/fastregister?access_token=$OAT" -d '{"ticket":"00000000000000000000000000000000"}')
    grep -q '"errcode":61058' <<<"$check" || { echo "fastreg at $B did not refuse with 61058: $check" >&2; exit 1; }
    echo "$OAT"
}
