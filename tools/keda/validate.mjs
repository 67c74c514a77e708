// Validate KEDA objects against KEDA's own schema (@kubernetes-models/keda, pinned in
// tools/package.json; generated from KEDA's Go API types, github.com/kedacore/keda/v2).
// Reads a JSON array of objects (ScaledObject, TriggerAuthentication) on stdin, as
// tests/unit/test_deploy_manifests.py sends them. Prints each error; exits 1 on any,
// 2 on unreadable input or an object of another kind.
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";
import { TriggerAuthentication } from "@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication";

const KINDS = { ScaledObject, TriggerAuthentication };

let input = "";
for await (const chunk of process.stdin) input += chunk;
let objects;
try {
  objects = JSON.parse(input);
  if (!Array.isArray(objects)) throw new Error("expected a JSON array of objects");
} catch (error) {
  console.error(`cannot read the objects: ${error.message}`);
  process.exit(2);
}

let failures = 0;
for (const [index, object] of objects.entries()) {
  const name = `${object?.kind ?? "?"} ${object?.metadata?.name ?? `#${index}`}`;
  const Model = KINDS[object?.kind];
  if (Model === undefined) {
    console.error(`${name}: not a KEDA kind this script knows (${Object.keys(KINDS).join(", ")})`);
    process.exit(2);
  }
  try {
    new Model(object).validate();
    console.log(`${name}: valid`);
  } catch (error) {
    failures += 1;
    console.log(`${name}: ${error.message}`);
  }
}
process.exit(failures ? 1 : 0);
