-- wrk script for the bare baseline app: POST one small form that the app inserts as a row.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "U1=4&U2=3&U3=4&U4=2&U5=4&U6=3&U7=4&U8=1&U9=4&comment=bare"
