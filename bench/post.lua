-- wrk script: POST the body in $BODY_FILE to the URL given on the command line. With
-- $HEADER_LENGTH set, the body is a KServe binary-extension body whose JSON part is that long;
-- with $CONNECTION_CLOSE set, every request asks for its own connection.
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*all")
f:close()
local header_length = os.getenv("HEADER_LENGTH")
if header_length then
  wrk.headers["Content-Type"] = "application/octet-stream"
  wrk.headers["Inference-Header-Content-Length"] = header_length
else
  wrk.headers["Content-Type"] = "application/json"
end
if os.getenv("CONNECTION_CLOSE") then
  wrk.headers["Connection"] = "close"
end
