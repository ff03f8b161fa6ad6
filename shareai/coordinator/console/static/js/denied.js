import { bindSignout } from "./lib.js";

bindSignout();
