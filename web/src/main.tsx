import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App.js";
import { takeKeyFromUrl } from "./apiKey.js";
import "./styles.css";

// Before the first render and the first request: the key leaves the address bar at once, and the
// page's first call to the API already carries it.
takeKeyFromUrl();

const root = document.getElementById("root");
if (root)
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
